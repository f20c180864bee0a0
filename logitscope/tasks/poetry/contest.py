"""Poetry contests (West & Potts 2025, Section 4): which pairs to judge, and judgement files.

A contest is one topic and one axis (originality, pleasantness or preference) over `per_model`
poems of each model (the study: 3 models x 5 poems, 60 comparisons). The pairs are scheduled
from the seed, the topic and the axis only, so people and model judges of one contest see the
same pairs: poems of different models, each poem in as many pairs as the others (the pair whose
poems have been shown least is taken next, ties broken by the seed), each pair's left/right order
drawn and recorded. Every job has one control pair: a poem against a random bag of the contest's
words (the poem is the right answer on every axis).

Judgements are JSON lines appended as they are made: {"pair", "topic", "axis", "annotator",
"left", "right", "choice" (left | right | skip), "winner", "control", "correct", "weight"}.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import UserError

AXES = {"originality": "Which poem is more original?", "pleasantness": "Which poem is more pleasant to read?",
        "preference": "Which poem do you prefer?"}
CONTROL = "control"


def check_axis(axis: str) -> str:
    if axis not in AXES:
        raise UserError(f"unknown axis '{axis}'; choose {', '.join(AXES)}")
    return axis


def load_poems(path) -> dict:
    """{poem id: {"id", "model", "topic", "attempt", "lines"}} from poetry result files (a file or
    a directory searched recursively)."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"no such poems file or directory: {path}")
    from ..results import jsonl_records
    poems = {}
    for rec in jsonl_records(p):
        if rec.get("kind") == "draw" and rec.get("poem"):
            model = rec["id"].rsplit("|", 2)[0]
            poems[rec["id"]] = {"id": rec["id"], "model": model, "topic": rec["topic"], "attempt": rec["attempt"],
                                "lines": rec["poem"]}
    if not poems:
        raise UserError(f"no poems in {path}; write some with `probe poetry generate`")
    return poems


@dataclass(frozen=True)
class Pair:
    pair: str
    left: str            # poem id (or CONTROL)
    right: str
    control: bool = False


def contest_poems(poems: dict, topic: str, per_model: int) -> dict:
    """The first `per_model` poems (by attempt) of each model on the topic."""
    on_topic = [p for p in poems.values() if p["topic"].lower() == topic.lower()]
    if not on_topic:
        known = sorted({p["topic"] for p in poems.values()})
        raise UserError(f"unknown topic '{topic}'; the poems cover {', '.join(known)}")
    chosen = {}
    for model in sorted({p["model"] for p in on_topic}):
        mine = sorted((p for p in on_topic if p["model"] == model), key=lambda p: p["attempt"])
        if len(mine) < per_model:
            raise UserError(f"{model} has {len(mine)} poems on '{topic}', fewer than --per-model {per_model}")
        chosen.update({p["id"]: p for p in mine[:per_model]})
    return chosen


def schedule(chosen: dict, topic: str, axis: str, comparisons: int, seed: int = 0) -> tuple[list[Pair], list[str]]:
    """The contest's pairs (balanced, left/right drawn) with one control pair, and the control's
    bag of words (4 lines)."""
    import zlib
    rng = np.random.default_rng([seed, zlib.crc32(f"{topic.lower()}|{axis}".encode())])
    ids = sorted(chosen)
    cross = [(a, b) for i, a in enumerate(ids) for b in ids[i + 1:] if chosen[a]["model"] != chosen[b]["model"]]
    pool = cross or [(a, b) for i, a in enumerate(ids) for b in ids[i + 1:]]
    if not pool:
        raise UserError("a contest needs at least two poems")
    picked = min((_greedy(pool, ids, min(comparisons, len(pool)), rng) for _ in range(TRIES)),
                 key=lambda got: got[0])[1]
    pairs = []
    for a, b in picked:
        if rng.random() < 0.5:
            a, b = b, a
        pairs.append(Pair(f"{topic.lower()}|{axis}|{len(pairs)}", a, b))
    words = [w.strip(".,;:!?\"'").lower() for p in chosen.values() for ln in p["lines"] for w in ln.split()]
    words = [w for w in words if w] or ["word"]
    bag = [" ".join(rng.choice(words, size=int(rng.integers(4, 8)))) for _ in range(4)]
    real = ids[int(rng.integers(len(ids)))]
    ctrl = Pair(f"{topic.lower()}|{axis}|control", real, CONTROL, True) if rng.random() < 0.5 else \
        Pair(f"{topic.lower()}|{axis}|control", CONTROL, real, True)
    pairs.insert(int(rng.integers(len(pairs) + 1)), ctrl)
    return pairs, bag


TRIES = 50


def _greedy(pool, ids, n, rng) -> tuple[int, list]:
    """n distinct pairs taken least-shown first (random order within ties); returns (the spread of
    showings, max - min, and the pairs). `schedule` keeps the most even of several tries."""
    shown = {i: 0 for i in ids}
    order = list(rng.permutation(len(pool)))
    out = []
    for _ in range(n):
        k = min(order, key=lambda j: (max(shown[pool[j][0]], shown[pool[j][1]]), shown[pool[j][0]] + shown[pool[j][1]]))
        order.remove(k)
        out.append(pool[k])
        shown[pool[k][0]] += 1
        shown[pool[k][1]] += 1
    return max(shown.values()) - min(shown.values()), out


def judgement(pair: Pair, choice: str, *, topic, axis, annotator, weight: float = 1.0, **extra) -> dict:
    winner = {"left": pair.left, "right": pair.right}.get(choice)
    correct = None if not pair.control or winner is None else winner != CONTROL
    return {"pair": pair.pair, "topic": topic, "axis": axis, "annotator": annotator, "left": pair.left,
            "right": pair.right, "choice": choice, "winner": winner, "control": pair.control, "correct": correct,
            "weight": weight, **extra}


def judgements_path(out, topic: str, axis: str, annotator: str) -> Path:
    from ..results import slug
    return Path(out) / "poetry-judgements" / f"{slug(topic.lower())}-{axis}-{slug(annotator)}.jsonl"


def append_judgement(path: Path, rec: dict) -> None:
    import os
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def export_pairs(pairs: list[Pair], chosen: dict, bag: list[str], topic, axis, path) -> Path:
    """One CSV row per pair for crowd platforms (texts included, the control pair marked)."""
    def text(pid):
        return "\n".join(bag) if pid == CONTROL else "\n".join(chosen[pid]["lines"])
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["pair", "topic", "axis", "question", "left_id", "left_text", "right_id", "right_text", "control"])
        for p in pairs:
            w.writerow([p.pair, topic, axis, AXES[axis], p.left, text(p.left), p.right, text(p.right), int(p.control)])
    return Path(path)


def import_judgements(csv_path, pairs: list[Pair], topic, axis, out) -> tuple[int, list[str]]:
    """Rows `pair, annotator, choice` (left | right | skip) appended to each annotator's file."""
    by_id = {p.pair: p for p in pairs}
    added, problems = 0, []
    with open(csv_path, newline="", encoding="utf-8") as fh:
        for n, row in enumerate(csv.DictReader(fh), 2):
            pair, who, choice = (row.get("pair") or "").strip(), (row.get("annotator") or "").strip(), \
                (row.get("choice") or "").strip().lower()
            if pair not in by_id or not who or choice not in ("left", "right", "skip"):
                problems.append(f"{csv_path}:{n}: needs a known pair, an annotator and left/right/skip")
                continue
            append_judgement(judgements_path(out, topic, axis, who),
                             judgement(by_id[pair], choice, topic=topic, axis=axis, annotator=who, source="import"))
            added += 1
    return added, problems
