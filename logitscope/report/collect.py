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

    @property
    def model(self) -> str:
        return self.config.get("model") or self.config.get("reward_model") or (self.summary or {}).get("model") or "?"


@dataclass
class Results:
    root: Path
    runs: list = field(default_factory=list)
    problems: list = field(default_factory=list)      # (file, line, why)
    judgements: list = field(default_factory=list)    # judgement files

    def of(self, *tasks) -> list[Run]:
        return [r for r in self.runs if r.task in tasks]


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
        lines = f.read_text(encoding="utf-8", errors="replace").splitlines()
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                why = "partial last line (a run was stopped while writing)" if n == len(lines) else f"not JSON ({exc.msg})"
                res.problems.append((f, n, why))
                continue
            kind = rec.get("type") if isinstance(rec, dict) else None
            if kind == "run":
                run.header = run.header or rec
            elif kind == "unit":
                run.units.append(rec)
            elif kind == "summary":
                run.summaries.append(rec)
            else:
                res.problems.append((f, n, "a record without a known type"))
        if run.header or run.units or run.summaries:
            res.runs.append(run)
    return res
