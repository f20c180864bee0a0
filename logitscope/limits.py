"""Declared ranges of the values a user sets, in one place.

The CLI (`cli.common.ranged`, a click type), the Python API and the explorer's API check a value
against the same `Range` and refuse it in one line that gives the range and, where the range is not
obvious, why it is what it is. No torch and no click here (`import logitscope` stays light).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import UserError


@dataclass(frozen=True)
class Range:
    """Numbers from `lo` to `hi` (None: no bound on that side); `open_lo` / `open_hi` leave an end
    out; `integer` asks for a whole number. `why` is said when a value is refused."""
    lo: float | None = None
    hi: float | None = None
    open_lo: bool = False
    open_hi: bool = False
    integer: bool = False
    why: str = ""

    def span(self) -> str:
        """'a number in (0, 1)', 'a whole number in [1, 4096]', 'a finite number > 0'."""
        kind = "a whole number" if self.integer else "a number"
        if self.lo is not None and self.hi is not None:
            return (f"{kind} in {'(' if self.open_lo else '['}{_num(self.lo)}, {_num(self.hi)}"
                    f"{')' if self.open_hi else ']'}")
        kind = "a whole number" if self.integer else "a finite number"
        if self.lo is not None:
            return f"{kind} {'>' if self.open_lo else '>='} {_num(self.lo)}"
        if self.hi is not None:
            return f"{kind} {'<' if self.open_hi else '<='} {_num(self.hi)}"
        return kind

    def contains(self, value) -> bool:
        try:
            v = float(value)
        except (TypeError, ValueError):
            return False
        if not math.isfinite(v) or (self.integer and v != int(v)):
            return False
        if self.lo is not None and not (v > self.lo if self.open_lo else v >= self.lo):
            return False
        return self.hi is None or (v < self.hi if self.open_hi else v <= self.hi)

    def message(self, value, label: str) -> str:
        return f"{label} must be {self.span()} (got {value})" + (f": {self.why}" if self.why else "")

    def check(self, value, label: str):
        """`value` as a number inside the range (an int where `integer`), or a UserError naming `label`."""
        if isinstance(value, bool) or not self.contains(value):
            raise UserError(self.message(value, label))
        return int(value) if self.integer else float(value)


def _num(x: float) -> str:
    return f"{x:,}" if float(x).is_integer() and abs(x) >= 10_000 else f"{x:g}"


# The answer tree prunes branches below min_mass; at 0 nothing is ever pruned and every token that
# keeps an answer possible (a space, a newline, a digit on the way to "10") is a branch of the next
# step, so the tree has no end; at 1 or more every branch is pruned and nothing is ever read.
MIN_MASS = Range(0.0, 1.0, open_lo=True, open_hi=True,
                 why="branches lighter than this are pruned (counted as unexplored); without pruning the "
                     "answer tree has no end, and at 1 every branch is pruned")
# how many units a batch, a session or a chunk holds: at least one, and a bound no machine can exceed
BATCH = Range(1, 4096, integer=True, why="units forwarded together (memory grows with it)")
COUNT = Range(1, 1_000_000, integer=True)                  # games, samples, poems, comparisons ...
ROUNDS = Range(1, 1000, integer=True)
TOKENS = Range(1, 32_768, integer=True)                    # new tokens per sample
SEED = Range(0, None, integer=True)
TOP_K = Range(1, 100_000, integer=True)                    # next tokens listed
GPUS = Range(1, 1024, integer=True)
CONTEXT = Range(1, 10_000_000, integer=True)               # tokens of a conversation
# a sampling temperature: logits / T stays finite in float32 for any T > 0 the flag can spell
TEMPERATURE = Range(0.0, None, open_lo=True)
TOP_P = Range(0.0, 1.0, open_lo=True, why="top-p keeps the smallest set of tokens holding this much probability")
