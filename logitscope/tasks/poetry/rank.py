"""`probe poetry rank`: rank poems and models from contest judgements (people and exact model judges
together) with `probes.ranking.rank`, rewards read from poetry result files. Malformed judgement
lines are reported by file and line; the rest is used."""
from __future__ import annotations

from ...errors import UserError


def read_rewards(paths) -> dict:
    """{reward model: {poem id: reward}} from poetry result files (reward records) or JSON lines
    {poem_id, reward, rm}; a poem's rewards from different reward models are never mixed."""
    from ..results import jsonl_records
    out: dict = {}
    for p in paths or []:
        for rec in jsonl_records(p):
            if "poem_id" in rec and "reward" in rec:
                out.setdefault(str(rec.get("rm", "reward")), {})[rec["poem_id"]] = float(rec["reward"])
    return out


def run_rank(paths, *, rewards=None, seed=0, resamples=200) -> dict:
    from ...probes.ranking import rank, read_judgements
    judgements, problems = read_judgements(paths)
    if not judgements:
        raise UserError("no usable judgements in " + ", ".join(map(str, paths)) +
                        (f" ({len(problems)} malformed lines)" if problems else ""))
    return rank(judgements, problems=problems, rewards=read_rewards(rewards), seed=seed, resamples=resamples)
