"""Mohammadi 2024: open-ended generation and its token entropy, attractor states, semantic
diversity and customer personas."""
