"""Where a run's own figures and pages live, named by the run (its result files and its n), so a
later run never replaces an earlier one's and the report finds each run's files:

- `entropy/<model>-<config hash>-n<N>.tokens.html`: one model's run of N texts, every token coloured;
- `entropy/<hash>-n<N>.png`: entropy by position of the models run together;
- `diversity/<hash>-n<N>.map.png` (+ `.map.json` naming its result files): the 2-D map of the runs;
- `personas/<hash>-n<N>.{panels,names,reviews}.png` (+ `.figures.json` naming its runs): the personas' figures.

<hash> is a hash of the runs' result file names (each already `<model>-<config hash>`)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path


def runs_stem(results: list, n: int) -> str:
    stems = sorted(Path(p).stem for p in results)
    return f"{hashlib.sha256(json.dumps(stems).encode()).hexdigest()[:10]}-n{n}"


def tokens_page(results, n: int) -> Path:
    p = Path(results)
    return p.with_name(f"{p.stem}-n{n}.tokens.html")


def entropy_png(results: list, n: int) -> Path:
    return Path(results[0]).parent / f"{runs_stem(results, n)}.png"


def diversity_map(results: list, n: int) -> Path:
    return Path(results[0]).parent / f"{runs_stem(results, n)}.map.png"


def persona_figures(results: list, n: int) -> dict:
    """{kind: path} of the persona figures of these runs, and "manifest": the JSON naming them."""
    stem = Path(results[0]).parent / runs_stem(results, n)
    return {"panels": stem.with_name(stem.name + ".panels.png"), "names": stem.with_name(stem.name + ".names.png"),
            "reviews": stem.with_name(stem.name + ".reviews.png"),
            "manifest": stem.with_name(stem.name + ".figures.json")}
