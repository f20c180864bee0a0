"""Contests for blind annotators outside the terminal: a CSV with one row per pair (the question and
both poems' texts, empty `annotator` and `choice` columns to fill in) and its import.

The export is anonymised: no poem ids, no model names, no control column; each row's `pair` is an
opaque key of its two poems in the order shown (`Pair.shown`), so the import finds each row's pair
in the schedule, and refuses a file whose rows are not pairs of this contest (another seed,
--per-model, axis or set of poems) before writing anything.
"""
from __future__ import annotations

import csv
from pathlib import Path

from ... import progress
from ...errors import UserError
from .contest import AXES, Contest, append_judgement, judged, judgement, judgements_path

COLUMNS = ["pair", "topic", "axis", "question", "left_text", "right_text", "annotator", "choice"]
CHOICES = ("left", "right", "skip")


def check_paths(export=None, import_=None) -> None:
    """One line before any work: an export into a directory that does not exist or onto a directory, an
    import of a file that does not exist or is a directory (`errors.need_file`)."""
    from ...errors import need_file
    if export and Path(export).is_dir():
        raise UserError(f"{export} is a directory, not a file (--export takes the CSV file to write)")
    if export and not Path(export).parent.is_dir():
        raise UserError(f"cannot write {export}: no such directory {Path(export).parent}")
    if import_:
        need_file(import_, "--import", "a CSV made by --export, filled in")


def export_pairs(c: Contest, path) -> Path:
    """One row per pair, in the schedule's order; `annotator` and `choice` (left | right | skip) left
    empty for the annotator."""
    path = Path(path)
    check_paths(export=path)
    try:
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(COLUMNS)
            for p in c.pairs:
                w.writerow([p.shown, c.topic, c.axis, AXES[c.axis], c.text(p.left), c.text(p.right), "", ""])
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror}") from None
    return path


def _rows(csv_path: Path) -> list[tuple[int, dict]]:
    check_paths(import_=csv_path)
    with open(csv_path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        missing = [k for k in ("pair", "annotator", "choice") if k not in (reader.fieldnames or [])]
        if missing:
            raise UserError(f"{csv_path}: no {', '.join(missing)} column; export the contest with --export and "
                            "fill in its annotator and choice columns")
        return [(n, {k: (v or "").strip() for k, v in row.items() if k}) for n, row in enumerate(reader, 2)]


def import_judgements(csv_path, c: Contest, out) -> dict:
    """Rows with an annotator and a choice appended to each annotator's judgements file (a row already
    there is reused, not added twice); rows with neither are not filled in yet. Nothing is written
    when a row names a pair outside the schedule or lacks an annotator or a valid choice."""
    csv_path = Path(csv_path)
    by_shown = {p.shown: p for p in c.pairs}
    todo, unknown, bad, blank = [], [], [], 0
    for n, row in _rows(csv_path):
        who, choice = row.get("annotator", ""), row.get("choice", "").lower()
        if not who and not choice:
            blank += 1
        elif row["pair"] not in by_shown:
            unknown.append(n)
        elif not who or choice not in CHOICES:
            bad.append(n)
        else:
            todo.append((by_shown[row["pair"]], who, choice))
    if unknown or bad:
        why = [f"{len(unknown)} rows name pairs not in this contest (exported with another --seed, --per-model, "
               f"--comparisons, --axis or set of poems?), first at line {unknown[0]}"] if unknown else []
        why += [f"{len(bad)} rows need an annotator and a choice of left, right or skip, first at line {bad[0]}"] \
            if bad else []
        raise UserError(f"{csv_path}: nothing imported: " + "; ".join(why))
    added = reused = 0
    for who in dict.fromkeys(w for _, w, _ in todo):
        path = judgements_path(out, c.topic, c.axis, who)
        done, _ = judged(path, c.pairs)
        for pair, _, choice in (t for t in todo if t[1] == who):
            if pair.pair in done:
                reused += 1
                continue
            rec = judgement(pair, choice, topic=c.topic, axis=c.axis, annotator=who, source="import")
            append_judgement(path, rec)
            done[pair.pair] = rec
            added += 1
    if reused:
        progress.note(progress.reused(reused, len(todo), "imported judgements"))
    return {"added": added, "reused": reused, "blank": blank, "rows": len(todo) + blank}
