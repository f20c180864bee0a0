"""Errors a user can cause (the CLI prints them as one line and exits non-zero), and the one rule for
an option value meant as a file that is not there."""


class UserError(Exception):
    """Bad input (unknown model, impossible answer set, empty prompt, ...): one clear line."""


class ModelError(UserError):
    """The model misbehaved at run time (NaN logits, out of memory)."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a run, with a message saying what was kept (the CLI prints it)."""


FILE_SUFFIXES = (".txt", ".text", ".csv", ".tsv", ".list", ".lst", ".md", ".json", ".jsonl", ".dat")


def check_file(value: str, option: str, takes: str) -> None:
    """`need_file` for a value that looks like a file (a path separator, or a text-file suffix such as
    .txt); a value that does not is left to the option's own parser. `takes` says what the option accepts."""
    import os
    from pathlib import Path
    if "/" in value or os.sep in value or Path(value).suffix.lower() in FILE_SUFFIXES:
        need_file(value, option, takes)


def need_file(value, option: str, takes: str) -> None:
    """A path an option reads as a file: one line when it is missing ("no such file") or is a
    directory ("is a directory, not a file"). `takes` says what the option accepts."""
    from pathlib import Path
    p = Path(value)
    if p.is_dir():
        raise UserError(f"{value} is a directory, not a file ({option} takes {takes})")
    if not p.exists():
        raise UserError(f"no such file: {value} ({option} takes {takes})")
