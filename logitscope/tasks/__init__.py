"""One file per task: prompt, answer space, loop, result record."""
