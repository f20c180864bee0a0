"""`probe poetry rank`: rank poems and models from contest judgements (people and exact model judges
together) with `probes.ranking.rank`, rewards read from poetry result files. Directories are read in
the layout the commands write (`probes.poetry_files`); a file with lines that are not judgements (or
rewards) is one warning, the rest is used. The ranking figure goes beside the judgements it ranks."""
from __future__ import annotations

import os
from pathlib import Path

from ...errors import UserError
from ...probes.bradley_terry import RESAMPLES


def read_rewards(paths, problems: list | None = None) -> dict:
    """{reward model: {poem id: reward}} from poetry result files (reward records) or JSON lines
    {poem_id, reward, rm} (a directory: its poetry result files, `layout_files`); a poem's rewards from
    different reward models are never mixed, and ids written without their run get the run of their
    file. Lines that are not JSON: one entry per file in `problems`."""
    from ...jsonl import read_lines
    from ...probes.poetry_files import layout_files
    from .contest import run_of
    from .generate import in_run
    out: dict = {}
    for f in layout_files(paths, "poems") if paths else []:
        lines = read_lines(f)
        recs = [ln.rec for ln in lines if ln.why is None]
        bad = sum(ln.rec is None for ln in lines)
        if bad and problems is not None:
            problems.append(f"{f}: {bad} lines are not JSON, skipped (rewards)")
        run = run_of(f, next((r for r in recs if r.get("type") == "run"), None))
        for rec in recs:
            if "poem_id" in rec and "reward" in rec:
                pid = rec["poem_id"] if "#" in rec["poem_id"] else in_run(rec["poem_id"], run)
                out.setdefault(str(rec.get("rm", "reward")), {})[pid] = float(rec["reward"])
    return out


def run_rank(paths, *, rewards=None, seed=0, resamples=RESAMPLES) -> dict:
    """`rank` of the judgements `paths` name, with `files`: the judgement files read."""
    from ...probes.poetry_files import layout_files, read_judgements
    from ...probes.ranking import rank
    files = layout_files(paths, "judgements")
    judgements, problems = read_judgements(files)
    if not judgements:
        raise UserError("no usable judgements in " + ", ".join(map(str, paths)) +
                        (f" ({len(problems)} with lines that are not judgements, e.g. {problems[0]})" if problems else ""))
    scores = read_rewards(rewards, problems)
    res = rank(judgements, problems=problems, rewards=scores, seed=seed, resamples=resamples)
    return {**res, "files": [str(f) for f in files]}


def figure_path(files, out=None) -> Path:
    """Where the ranking figure goes: `<out>/poetry-judgements/ranking.png` when --out is given, else
    beside the judgements (their directory, or the one directory that holds all of theirs)."""
    if out:
        return Path(out) / "poetry-judgements" / "ranking.png"
    dirs = {Path(f).parent for f in files}
    if len(dirs) == 1:
        return dirs.pop() / "ranking.png"
    return Path(os.path.commonpath([str(d.resolve()) for d in dirs])) / "ranking.png"
