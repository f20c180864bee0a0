"""`probe poetry rank`: rank poems and models from contest judgements (people and exact model judges
together) with `probes.ranking.rank`, rewards read from poetry result files. Malformed judgement
lines are reported by file and line; the rest is used."""
from __future__ import annotations

from ...errors import UserError


def read_rewards(paths) -> dict:
    """{reward model: {poem id: reward}} from poetry result files (reward records) or JSON lines
    {poem_id, reward, rm}; a poem's rewards from different reward models are never mixed, and ids
    written without their run get the run of their file."""
    from pathlib import Path

    from ..results import jsonl_records
    from .contest import run_of
    from .generate import in_run
    out: dict = {}
    for p in map(Path, paths or []):
        if not p.exists():
            raise UserError(f"no such rewards file or directory: {p}")
        for f in sorted(p.rglob("*.jsonl")) if p.is_dir() else [p]:
            recs = list(jsonl_records(f))
            run = run_of(f, next((r for r in recs if r.get("type") == "run"), None))
            for rec in recs:
                if "poem_id" in rec and "reward" in rec:
                    pid = rec["poem_id"] if "#" in rec["poem_id"] else in_run(rec["poem_id"], run)
                    out.setdefault(str(rec.get("rm", "reward")), {})[pid] = float(rec["reward"])
    return out


def run_rank(paths, *, rewards=None, seed=0, resamples=200) -> dict:
    from ...probes.ranking import rank, read_judgements
    judgements, problems = read_judgements(paths)
    if not judgements:
        raise UserError("no usable judgements in " + ", ".join(map(str, paths)) +
                        (f" ({len(problems)} malformed lines)" if problems else ""))
    return rank(judgements, problems=problems, rewards=read_rewards(rewards), seed=seed, resamples=resamples)
