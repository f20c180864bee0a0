"""`probe`: thin click commands; each parses arguments and calls a task."""
