"""What a long run shows while it works, on stderr: tqdm bars with an ETA and one-line notes.

Bars are off when stderr is not a terminal (tqdm's own rule) and everything here is off with
`probe --quiet` (or `LOGITSCOPE_QUIET=1`): a command's stdout holds only what the user asked for.
Resumed work is reported the same way by every task: "12 of 20 samples reused".
"""
from __future__ import annotations

import os
import sys

QUIET = os.environ.get("LOGITSCOPE_QUIET") == "1"


def set_quiet(value: bool = True) -> None:
    global QUIET
    QUIET = bool(value)


def note(msg: str) -> None:
    """One line of news on stderr (nothing with --quiet)."""
    if not QUIET:
        print(msg, file=sys.stderr, flush=True)


def bar(total: float, desc: str, unit: str = "it", initial: float = 0, show: bool = True):
    """A tqdm bar on stderr with an ETA; a no-op bar with --quiet, with `show=False`, or when stderr
    is not a terminal. Use as a context manager or call `.close()`."""
    from tqdm.auto import tqdm
    return tqdm(total=total, initial=initial, desc=desc, unit=unit, leave=False, dynamic_ncols=True,
                disable=True if QUIET or not show else None, file=sys.stderr, mininterval=0.5,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} {unit} [{elapsed}<{remaining}]")


def reused(done: int, total: int, what: str) -> str:
    """The one wording of resumed work: '12 of 20 samples reused'."""
    return f"{done} of {total} {what} reused"
