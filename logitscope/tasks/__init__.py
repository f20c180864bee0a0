"""One file per task: prompt, answer space, loop, result record; grouped by study.

- `results.py` (result files, resume, locks) and `compare.py` (two models, every probe): shared;
- `randomness/`: next-token and answer distributions, integers, letters, sequences, rewards;
- `games/`: rock-paper-scissors and hide-and-seek against a greedy adversary, determinism;
- `creativity/`: open-ended generation, token entropy, attractors, diversity, personas;
- `poetry/`: poems, contests for people, exact model judges, rankings.
"""
