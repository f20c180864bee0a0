"""Figures and reports from result rows (matplotlib, optional)."""
