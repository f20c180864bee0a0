"""What a long run shows while it works, on stderr: progress bars with an ETA and one-line notes.

A bar counts the unit of work in flight (rounds of the games being played, token steps of the batch
being generated) and says what else it counts beside it ("rounds 230/500, games done 12/50").
On a terminal it is a tqdm bar whose clock is redrawn every second even while nothing finishes;
when stderr is not a terminal (a log file, nohup, CI) it is a plain line every `EVERY` seconds
(30; `LOGITSCOPE_PROGRESS_EVERY`), the first after `EVERY` seconds, so short runs stay silent.
Everything here is off with `probe --quiet` (or `LOGITSCOPE_QUIET=1`): a command's stdout holds only
what the user asked for. Resumed work is reported the same way by every task: "12 of 20 samples reused".
"""
from __future__ import annotations

import os
import sys
import threading
import time

QUIET = os.environ.get("LOGITSCOPE_QUIET") == "1"
EVERY = float(os.environ.get("LOGITSCOPE_PROGRESS_EVERY", "30"))   # seconds between plain progress lines
REDRAW = 1.0                                                          # seconds between a terminal bar's redraws
_LIVE: list = []                                                      # terminal bars on screen now


def set_quiet(value: bool = True) -> None:
    global QUIET
    QUIET = bool(value)


def note(msg: str) -> None:
    """One line of news on stderr (nothing with --quiet); above any bar on screen."""
    if QUIET:
        return
    if _LIVE:
        from tqdm.auto import tqdm
        tqdm.write(msg, file=sys.stderr)
    else:
        print(msg, file=sys.stderr, flush=True)


def _terminal(stream) -> bool:
    try:
        return stream.isatty() or "ipykernel" in sys.modules
    except (AttributeError, ValueError):
        return False


def clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60:02d}:{s % 60:02d}"


class Bar:
    """`unit n/total` with an ETA, and `also(...)`: what else is counted ("games done 12/50").

    On a terminal: a tqdm bar redrawn every `REDRAW` seconds by a background thread (tqdm itself
    redraws only on an update, so a long step froze its clock). Otherwise: a plain line every
    `EVERY` seconds, and a last one when the count completes if any was printed. Nothing with
    `show=False` or --quiet. A context manager, or call `close()`."""

    def __init__(self, total: float, desc: str, unit: str = "it", initial: float = 0, show: bool = True,
                 stream=None):
        self.total, self.desc, self.unit = total, desc, unit
        self.n = self.initial = initial
        self.extra = ""
        self.stream = stream or sys.stderr
        self.t0 = time.monotonic()
        self.lines = 0                       # plain lines printed so far
        self._stop = threading.Event()
        self._tqdm = self._thread = None
        self.mode = None if QUIET or not show else ("terminal" if _terminal(self.stream) else "log")
        if self.mode == "terminal":
            from tqdm.auto import tqdm
            self._tqdm = tqdm(total=total, initial=initial, desc=desc, unit=unit, leave=False, dynamic_ncols=True,
                              file=self.stream, mininterval=0.5, bar_format="{desc}: {percentage:3.0f}%|{bar}| "
                              + unit + " {n:.0f}/{total:.0f} [{elapsed}<{remaining}]{postfix}")
            _LIVE.append(self)
        if self.mode:
            self._thread = threading.Thread(target=self._tick, daemon=True, name="logitscope-progress")
            self._thread.start()

    def update(self, k: float = 1) -> None:
        self.n += k
        if self._tqdm is not None:
            self._tqdm.update(k)

    def also(self, text: str) -> None:
        """What else the bar says, after its count: 'games done 12/50'."""
        self.extra = text
        if self._tqdm is not None:
            self._tqdm.set_postfix_str(text, refresh=False)

    def line(self) -> str:
        """The plain progress line: 'model rps: rounds 230/500 (46%), games done 12/50, 01:10 elapsed, ~01:22 left'."""
        elapsed = time.monotonic() - self.t0
        pct = f" ({100 * self.n / self.total:.0f}%)" if self.total else ""
        rate = (self.n - self.initial) / elapsed if elapsed > 0 else 0
        left = f", ~{clock((self.total - self.n) / rate)} left" if rate > 0 and self.n < self.total else ""
        extra = f", {self.extra}" if self.extra else ""
        return f"{self.desc}: {self.unit} {self.n:.0f}/{self.total:.0f}{pct}{extra}, {clock(elapsed)} elapsed{left}"

    def _tick(self) -> None:
        period = REDRAW if self.mode == "terminal" else EVERY
        while not self._stop.wait(period):
            if self.mode == "terminal":
                self._tqdm.refresh()
            else:
                self._print(self.line())

    def _print(self, text: str) -> None:
        try:
            print(text, file=self.stream, flush=True)
            self.lines += 1
        except (ValueError, OSError):        # the stream was closed under us
            self._stop.set()

    def close(self) -> None:
        if self._stop.is_set() and self._thread is None:
            return
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        self._thread = None
        if self._tqdm is not None:
            self._tqdm.close()
            if self in _LIVE:
                _LIVE.remove(self)
        elif self.mode == "log" and self.lines and self.n >= self.total:
            self._print(f"{self.desc}: {self.unit} {self.n:.0f}/{self.total:.0f} done in "
                        f"{clock(time.monotonic() - self.t0)}")

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def bar(total: float, desc: str, unit: str = "it", initial: float = 0, show: bool = True) -> Bar:
    """A `Bar` on stderr (see `Bar`)."""
    return Bar(total, desc, unit, initial, show)


def reused(done: int, total: int, what: str) -> str:
    """The one wording of resumed work: '12 of 20 samples reused'."""
    return f"{done} of {total} {what} reused"
