"""Which files the poetry commands read. A file named on the command line is read as given; a
directory is read in the layout the commands write, its own files only (never folders below it, never
files of another kind), or, when it has none, its `poetry-judgements/` or `poetry/` folder (a
results directory):

- judgements (`probe poetry contest` and `judge`): `<topic>-<axis>-<annotator>[-<settings hash>].jsonl`;
- poems and rewards (`probe poetry generate`): `<model>-<config hash>[.rank<k>].jsonl`.

A directory with none of its kind is one line (UserError). A judgement file whose lines are not all
judgements (a partial last line of a stopped run, records of another kind) gives one warning for
the file, not one per line; its judgements are used.
"""
from __future__ import annotations

import re
from pathlib import Path

from ..errors import UserError
from ..jsonl import read_lines

AXIS_NAMES = ("originality", "pleasantness", "preference")
LAYOUT = {
    "judgements": (re.compile(r"^.+-(" + "|".join(AXIS_NAMES) + r")(-.+)?\.jsonl$"), "poetry-judgements",
                   "<topic>-<axis>-<annotator>.jsonl, as `probe poetry contest` and `judge` write them"),
    "poems": (re.compile(r"^.+-[0-9a-f]{10}(\.rank\d+)?\.jsonl$"), "poetry",
              "<model>-<config hash>.jsonl, as `probe poetry generate` writes them"),
}
NEED = ("pair", "axis", "annotator", "left", "right", "choice")


def layout_files(paths, kind: str) -> list[Path]:
    """The files of `kind` ("judgements" or "poems") that `paths` name (see the module's docstring)."""
    pattern, folder, names = LAYOUT[kind]
    files: list[Path] = []
    for p in map(Path, [paths] if isinstance(paths, (str, Path)) else paths):
        if not p.exists():
            raise UserError(f"no such {kind} file or directory: {p}")
        if not p.is_dir():
            files.append(p)
            continue
        got = _own(p, pattern) or (_own(p / folder, pattern) if (p / folder).is_dir() else [])
        if not got:
            raise UserError(f"no {kind} files in {p} (files named {names})")
        files += got
    return list(dict.fromkeys(files))


def _own(d: Path, pattern) -> list[Path]:
    return sorted(f for f in d.iterdir() if pattern.match(f.name) and f.is_file())


def read_judgements(paths) -> tuple[list[dict], list[str]]:
    """(judgements, problems) of the judgement files `paths` name (`layout_files`): every line that is a
    judgement; one problem per file with lines that are not ('file: 2 of 61 lines are not judgements,
    skipped (line 61: a partial last line)')."""
    recs, problems = [], []
    for f in layout_files(paths, "judgements"):
        try:
            lines = read_lines(f)
        except OSError as exc:
            problems.append(f"{f}: not read ({exc.strerror})")
            continue
        bad, first = 0, ""
        for ln in lines:
            why = _why_not(ln)
            if why is None:
                recs.append(ln.rec)
                continue
            bad += 1
            first = first or f"line {ln.n}: {why}"
        total = len(lines)
        if bad:
            problems.append(f"{f}: {bad} of {total} lines are not judgements, skipped (first at {first})")
    return recs, problems


def _why_not(ln) -> str | None:
    """Why a line (`jsonl.Line`) is not a judgement, or None."""
    if ln.rec is None and ln.last:
        return "a partial last line (a run stopped while writing?)"
    if ln.why is not None:
        return ln.why
    rec = ln.rec
    missing = [k for k in NEED if k not in rec]
    return f"no {', '.join(missing)}" if missing else None
