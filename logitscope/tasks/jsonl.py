"""Appending JSON lines so that a kill never loses a record nor glues two together.

Every writer of a JSON-lines file that a rerun resumes (result files, reward outputs, poetry
judgements) opens it with `open_append`, which first repairs a torn last line (a run killed while
writing it): the partial line is moved to `<file>.torn`, said in one line, so the next record
starts a line of its own instead of being glued onto the partial one (which would lose both). A
last record that is whole but lacks its newline only gets the newline.

Records are then written with `write_lines`: all lines of one call in one `os.write` of an
`O_APPEND` descriptor (no buffer that a kill could leave half flushed), fsync'd before it returns.
A kill leaves whole lines, or at worst (a write cut short) one partial last line, which the next
run's `open_append` moves aside.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

_BLOCK = 1 << 16


def repair(path) -> int:
    """Make `path` end at a line boundary before appending; returns the bytes moved aside (0 when
    the file was whole, absent or empty). The caller holds the file (its lock, or it is the only
    writer)."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return 0
    if size == 0:
        return 0
    with open(path, "rb+") as fh:
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return 0
        start = _last_line_start(fh, size)
        fh.seek(start)
        tail = fh.read()
        whole = _whole_record(tail)
        if whole:
            fh.write(b"\n")
        else:
            with open(path.with_name(path.name + ".torn"), "ab") as aside:
                aside.write(tail + b"\n")
                aside.flush()
                os.fsync(aside.fileno())
            fh.truncate(start)
        fh.flush()
        os.fsync(fh.fileno())
    if whole:
        return 0
    from ..progress import note
    note(f"repaired {path}: its last line was cut off mid-record (a run stopped while writing it); "
         f"moved those {len(tail)} bytes to {path.name}.torn, the record it held is computed again")
    return len(tail)


def open_append(path):
    """`path` repaired, then opened for appending (unbuffered bytes: write with `write_lines`)."""
    repair(path)
    return open(path, "ab", buffering=0)


def write_lines(fh, records) -> None:
    """Each record as one JSON line, all in one `os.write` (looping only on a short write), then fsync."""
    data = memoryview("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8"))
    while data:
        data = data[os.write(fh.fileno(), data):]
    os.fsync(fh.fileno())


def _last_line_start(fh, size: int) -> int:
    """Offset just after the last newline of the file (0 when it has none)."""
    end = size
    while end > 0:
        lo = max(0, end - _BLOCK)
        fh.seek(lo)
        k = fh.read(end - lo).rfind(b"\n")
        if k >= 0:
            return lo + k + 1
        end = lo
    return 0


def _whole_record(tail: bytes) -> bool:
    try:
        return isinstance(json.loads(tail), dict)
    except ValueError:            # JSONDecodeError, or bytes that are not UTF-8
        return False
