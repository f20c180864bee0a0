"""West & Potts 2025, poetry: 4-line poems, contests for people, exact model judges, rankings."""
