"""Poetry contests (West & Potts 2025, Section 4): which pairs to judge, and judgement files.

A contest is one topic and one axis (originality, pleasantness or preference) over `per_model`
poems of each model (the study: 3 models x 5 poems, 60 comparisons). The pairs are scheduled
from the seed, the topic and the axis only, so people and model judges of one contest see the
same pairs: poems of different models, each poem in as many pairs as the others (the pair whose
poems have been shown least is taken next, ties broken by the seed), each pair's left/right order
drawn and recorded. Every job has one control pair: a poem against a random bag of the contest's
words (the poem is the right answer on every axis).

Judgements are JSON lines appended as they are made: {"pair", "topic", "axis", "annotator",
"left", "right", "choice" (left | right | skip), "winner", "control", "correct", "weight"}. A
judgement's `pair` is `probes.ranking.pair_key(axis, poem, poem)`: its two poems (the control: its
poem and its bag of words) and its axis, in either order. Work resumes by that key, so a schedule
with another seed, --per-model or set of poems reuses exactly the judgements of its own pairs.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import UserError
from ...probes.ranking import model_of, pair_key
from .generate import in_run

AXES = {"originality": "Which poem is more original?", "pleasantness": "Which poem is more pleasant to read?",
        "preference": "Which poem do you prefer?"}
CONTROL = "control"


def check_axis(axis: str) -> str:
    if axis not in AXES:
        raise UserError(f"unknown axis '{axis}'; choose {', '.join(AXES)}")
    return axis


def run_of(path: Path, header: dict | None) -> str | None:
    """A poetry result file's run: the hash of its config (the `<model>-<hash>.jsonl` of its name)."""
    from ..results import config_hash
    if header and isinstance(header.get("config"), dict):
        return config_hash(header["config"])
    m = re.search(r"-([0-9a-f]{10})(?:\.rank\d+)?\.jsonl$", Path(path).name)
    return m.group(1) if m else None


def load_poems(paths, runs=None) -> dict:
    """{poem id: {"id", "model", "topic", "attempt", "lines", "run", "settings"}} from poetry result
    files (a directory: its files named as `probe poetry generate` writes them, or those of its
    `poetry/` folder; `probes.poetry_files.layout_files`). Ids carry their run (config hash), so runs
    with another seed, temperature or format never overwrite each other; `runs` (hash prefixes) keeps
    only those runs."""
    from ...probes.poetry_files import layout_files
    from ..results import jsonl_records
    poems, seen = {}, {}
    for f in layout_files(paths, "poems"):
        recs = list(jsonl_records(f))
        header = next((r for r in recs if r.get("type") == "run"), None)
        run = run_of(f, header)
        config = (header or {}).get("config", {})
        settings = ", ".join(f"{k} {config[k]}" for k in ("seed", "temperature", "format") if k in config)
        for rec in recs:
            if rec.get("kind") != "draw" or not rec.get("poem"):
                continue
            if run is None:
                raise UserError(f"{f}: not a poetry result file (no run header, not named "
                                "<model>-<hash>.jsonl)")
            pid = in_run(rec["id"], run)
            poems[pid] = {"id": pid, "model": model_of(pid), "topic": rec["topic"], "attempt": rec["attempt"],
                          "lines": rec["poem"], "run": run, "settings": settings}
            seen[run] = settings
    if not poems:
        raise UserError(f"no poems in {', '.join(map(str, [paths] if isinstance(paths, (str, Path)) else paths))}; "
                        "write some with `probe poetry generate`")
    if runs:
        unknown = [r for r in runs if not any(h.startswith(r) for h in seen)]
        if unknown:
            raise UserError(f"no run {', '.join(unknown)} among the poems; runs: " +
                            "; ".join(f"{h} ({s})" for h, s in sorted(seen.items())))
        poems = {k: v for k, v in poems.items() if any(v["run"].startswith(r) for r in runs)}
    return poems


@dataclass(frozen=True)
class Pair:
    pair: str            # the judgement's key: axis and the two poems, in either order
    left: str            # poem id (or CONTROL)
    right: str
    control: bool = False
    shown: str = ""      # the key of this left/right order (CSV rows for people carry it)


@dataclass
class Contest:
    """One contest's poems, scheduled pairs and control bag of words."""
    topic: str
    axis: str
    chosen: dict
    pairs: list
    bag: list

    def text(self, pid: str) -> str:
        return "\n".join(self.bag) if pid == CONTROL else "\n".join(self.chosen[pid]["lines"])


def open_contest(poems: dict, topic: str, axis: str, *, per_model=None, comparisons=60, seed=0) -> Contest:
    """The contest of `topic` x `axis` over the loaded poems (the poems' own spelling of the topic)."""
    check_axis(axis)
    chosen = contest_poems(poems, topic, per_model)
    topic = next(iter(chosen.values()))["topic"]
    pairs, bag = schedule(chosen, topic, axis, comparisons, seed)
    return Contest(topic, axis, chosen, pairs, bag)


def contest_poems(poems: dict, topic: str, per_model: int | None = None) -> dict:
    """The first `per_model` poems (by attempt) of every model on the topic; without `per_model`, the
    most that every model has there (said in a note). A model's poems must come from one run."""
    from ... import progress
    if per_model is not None and per_model < 1:
        raise UserError("--per-model must be at least 1")
    on_topic = [p for p in poems.values() if p["topic"].lower() == topic.lower()]
    if not on_topic:
        known = sorted({p["topic"] for p in poems.values()})
        raise UserError(f"unknown topic '{topic}'; the poems cover {', '.join(known)}")
    spelled = on_topic[0]["topic"]
    mine = {m: sorted((p for p in on_topic if p["model"] == m), key=lambda p: p["attempt"])
            for m in sorted({p["model"] for p in poems.values()})}
    for model, got in mine.items():
        runs = sorted({(p["run"], p["settings"]) for p in got})
        if len(runs) > 1:
            raise UserError(f"{model} has poems on '{spelled}' from {len(runs)} runs (" +
                            "; ".join(f"{h}: {s or 'settings unknown'}" for h, s in runs) +
                            "); name the one to use with --run HASH")
    fewest = min(len(got) for got in mine.values())
    if per_model is None:
        if fewest == 0:
            raise UserError(f"{', '.join(m for m, got in mine.items() if not got)} has no poems on '{spelled}'")
        per_model = fewest
        progress.note(f"{spelled}: {per_model} poems per model (the most every model has; --per-model to choose)")
    for model, got in mine.items():
        if len(got) < per_model:
            raise UserError(f"{model} has {len(got)} poems on '{spelled}', fewer than --per-model {per_model}")
    return {p["id"]: p for got in mine.values() for p in got[:per_model]}


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
        pairs.append(Pair(pair_key(axis, a, b), a, b, shown=pair_key(axis, a, "shown second: " + b)))
    words = [w.strip(".,;:!?\"'").lower() for p in chosen.values() for ln in p["lines"] for w in ln.split()]
    words = [w for w in words if w] or ["word"]
    bag = [" ".join(rng.choice(words, size=int(rng.integers(4, 8)))) for _ in range(4)]
    real = ids[int(rng.integers(len(ids)))]
    words_id = "control: " + "\n".join(bag)
    key = pair_key(axis, real, words_id)
    ctrl = Pair(key, real, CONTROL, True, pair_key(axis, real, "shown second: " + words_id)) \
        if rng.random() < 0.5 else Pair(key, CONTROL, real, True, pair_key(axis, words_id, "shown second: " + real))
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


def judgements_path(out, topic: str, axis: str, annotator: str, settings_hash: str | None = None) -> Path:
    """`<out>/poetry-judgements/<topic>-<axis>-<annotator>[-<settings hash>].jsonl`."""
    from ..results import slug
    tag = f"-{settings_hash}" if settings_hash else ""
    return Path(out) / "poetry-judgements" / f"{slug(topic.lower())}-{axis}-{slug(annotator)}{tag}.jsonl"


def append_judgement(path: Path, rec: dict) -> int:
    """Append one judgement (one whole line, fsync'd; a torn last line repaired first: `jsonl.open_append`);
    returns the file's size before it (`undo` cuts there)."""
    from ...jsonl import open_append, write_lines
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open_append(path) as fh:
            start = fh.tell()
            write_lines(fh, [rec])
    except OSError as exc:
        raise UserError(f"cannot write judgements to {path}: {exc.strerror}") from None
    return start


def judged(path: Path, pairs: list[Pair], settings_hash: str | None = None) -> tuple[dict, int]:
    """({pair key: record} of this file's judgements of these pairs (with these settings), how many
    of its judgements are of other pairs or settings: kept in the file, not reused here)."""
    from ...probes.poetry_files import read_judgements
    keys = {p.pair for p in pairs}
    done, other = {}, 0
    for r in read_judgements([path])[0] if path.exists() else []:
        if r["pair"] in keys and r.get("settings_hash") == settings_hash:
            done[r["pair"]] = r
        else:
            other += 1
    return done, other
