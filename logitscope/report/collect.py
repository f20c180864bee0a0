"""Read every result file under a results directory, never failing on a bad one.

A result file is JSON lines: a `run` header (config, provenance), `unit` records, `summary`
records (the last one is current). Files are grouped by their task folder (`integers`,
`determinism-rps`, ...). Malformed or partial lines are collected as problems (file, line, why)
for the report to list; the rest of the file is used. Poetry judgements (plain judgement lines) are
found by their folder and read by the ranking code.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..jsonl import read_lines


@dataclass
class Run:
    task: str
    path: Path
    header: dict = field(default_factory=dict)
    units: list = field(default_factory=list)
    summaries: list = field(default_factory=list)

    @property
    def config(self) -> dict:
        return self.header.get("config", {})

    @property
    def summary(self) -> dict | None:
        return self.summaries[-1] if self.summaries else None

    def by_n(self, key: str) -> list[dict]:
        """The newest summary for each distinct run size (`key`: "sequences", "games", "samples",
        "texts"), smallest n first: a file holds every run of its config, one summary per run."""
        got: dict = {}
        for s in self.summaries:
            got[s.get(key)] = s
        return [got[k] for k in sorted(got, key=lambda k: (k is None, k or 0))]

    def first_units(self, key: str, n: int, needs: str) -> list[dict] | None:
        """The file's units 0..n-1 by `key` ("game", "index"; the first record of each, as a resumed
        run counts them) that carry `needs`; None where the file lacks some of them."""
        got: dict = {}
        for u in self.units:
            if isinstance(u.get(key), int) and 0 <= u[key] < n and needs in u:
                got.setdefault(u[key], u)
        return [got[i] for i in range(n)] if len(got) == n else None

    @property
    def model(self) -> str:
        models = self.config.get("models")            # probe compare: a pair
        return (self.config.get("model") or self.config.get("reward_model") or (self.summary or {}).get("model")
                or (" vs ".join(map(str, models)) if models else "?"))


@dataclass
class Results:
    root: Path
    runs: list = field(default_factory=list)
    problems: list = field(default_factory=list)      # (file, line, why)
    judgements: list = field(default_factory=list)    # judgement files

    def of(self, *tasks) -> list[Run]:
        return [r for r in self.runs if r.task in tasks]

    def sized(self, task: str, key: str) -> list[tuple[Run, dict]]:
        """(run, summary) for every run size of every file of a task: one row per (model, settings, n)."""
        return [(r, s) for r in self.of(task) for s in r.by_n(key)]


def is_oracle(r: Run) -> bool:
    """A run of the uniform oracle (no model, no prompt format): its provenance says so, or the
    registry does for its name."""
    if r.header.get("provenance", {}).get("model_info", {}).get("kind") == "oracle":
        return True
    from ..kernels.models.registry import lookup
    entry = lookup(r.model) if r.model else None
    return entry is not None and entry.kind == "oracle"


def run_format(r: Run) -> str:
    """The prompt format a run used, as a table shows it: "oracle" for the uniform oracle (it has none),
    "?" for a file that does not say."""
    return r.config.get("format") or ("oracle" if is_oracle(r) else "?")


PARTIAL = {"rounds"}        # work in flight a task resumes from (games: each round of the games in flight)
HIDDEN = {"task", "model", "prompts", "templates", "chat_prompt", "source"}


def differing(runs, skip=("format",)) -> dict:
    """{run path: "key value; ..."}: the config settings that tell a model's runs of a task apart
    (the keys whose values differ between them; `skip`: keys shown elsewhere), "" where a model has
    one run of the task."""
    by_model: dict = {}
    for r in runs:
        by_model.setdefault((r.task, r.model), []).append(r)
    out = {}
    for group in by_model.values():
        keys = sorted({k for r in group for k in r.config} - HIDDEN - set(skip))
        keys = [k for k in keys if len({json.dumps(r.config.get(k), sort_keys=True, default=str) for r in group}) > 1]
        for r in group:
            out[r.path] = "; ".join(f"{k} {_short(r.config.get(k))}" for k in keys)
    return out


def _short(v) -> str:
    if isinstance(v, str):
        return repr(v if len(v) <= 40 else v[:40] + "...")
    return json.dumps(v, default=str)


def collect(root) -> Results:
    root = Path(root)
    res = Results(root)
    if not root.is_dir():
        return res
    for f in sorted(root.rglob("*.jsonl")):
        if "poetry-judgements" in f.parts:
            res.judgements.append(f)
            continue
        run = Run(task=f.parent.name, path=f)
        for n, rec, why, last in read_lines(f):
            if why is not None and (rec is None or last):
                res.problems.append((f, n, "partial last line (a run was stopped while writing)" if last else why))
                continue
            kind = rec.get("type") if isinstance(rec, dict) else None
            if kind == "run":
                run.header = run.header or rec
            elif kind == "unit":
                run.units.append(rec)
            elif kind == "summary":
                run.summaries.append(rec)
            elif kind in PARTIAL:
                continue
            else:
                res.problems.append((f, n, "a record without a known type"))
        if run.header or run.units or run.summaries:
            res.runs.append(run)
    return res
