"""West & Potts 2025, games: rock-paper-scissors and hide-and-seek against a greedy adversary that
reads the model's exact move distribution; the determinism probe."""
