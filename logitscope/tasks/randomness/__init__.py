"""West & Potts 2025, randomness: one random answer (integers, letters) over paraphrases and
sampling settings, sequences of ten, the reward of each answer, and `probe dist`."""
