"""JSON lines: appending so that a kill never loses a record nor glues two together, and reading so
that a torn or odd line costs that line, never the file.

Every writer of a JSON-lines file that a rerun resumes (result files, reward outputs, poetry
judgements) opens it with `open_append`, which first repairs a torn last line (a run killed while
writing it): the partial line is moved to `<file>.torn`, said in one line, so the next record
starts a line of its own instead of being glued onto the partial one (which would lose both). A
last record that is whole but lacks its newline only gets the newline.

Records are then written with `write_lines`: all lines of one call in one `os.write` of an
`O_APPEND` descriptor (no buffer that a kill could leave half flushed), fsync'd before it returns.
A kill leaves whole lines, or at worst (a write cut short) one partial last line, which the next
run's `open_append` moves aside.

Every reader of these files (resume, the report, poetry rankings, reward outputs) reads them with
`read_lines`: lines split at "\n" only (a record's text may hold U+2028 or U+0085, which
`str.splitlines` would split), each line decoded and parsed on its own, so a line cut inside a UTF-8
character is one line that is not JSON, not an error for the whole file.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import NamedTuple

_BLOCK = 1 << 16


class Line(NamedTuple):
    """One non-empty line: its number (from 1), the JSON value (None where it is not JSON), why it is
    not a JSON object (None where it is), and whether it is the file's last line."""
    n: int
    rec: object
    why: str | None
    last: bool


def read_lines(path) -> list[Line]:
    """Every non-empty line of a JSON-lines file (see the module's note)."""
    chunks = Path(path).read_bytes().split(b"\n")
    if chunks and chunks[-1] == b"":
        chunks.pop()
    return [Line(n, *_parse(raw), n == len(chunks)) for n, raw in enumerate(chunks, 1) if raw.strip()]


def _parse(raw: bytes) -> tuple:
    """(the JSON value or None, why it is not a JSON object or None) of one line's bytes."""
    try:
        rec = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return None, "not UTF-8 text"
    except json.JSONDecodeError as exc:
        return None, f"not JSON ({exc.msg})"
    return rec, None if isinstance(rec, dict) else "not a JSON object"


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
        whole = _parse(tail)[1] is None                 # a whole record, only its newline missing
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
    from .progress import note
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

