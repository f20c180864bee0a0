"""`probe report`: one self-contained HTML page and a markdown summary from every result file in a
results directory. Sections appear only when their results exist; malformed or partial lines are
listed (file and line) and never stop the report."""
from __future__ import annotations

import csv
import json
import time
from pathlib import Path

from ..errors import UserError, need_file
from . import sections_answers as ans
from . import sections_compare
from . import sections_creative as creative
from . import sections_personas, sections_poetry
from . import sections_random as rnd
from .collect import collect
from .page import Section, render_html, render_markdown

ORDER = (sections_compare.summary, ans.answers, ans.paraphrases, ans.temperature, rnd.sequences, rnd.games, rnd.reward, creative.entropy,
         creative.attractor, creative.diversity, sections_personas.personas, sections_poetry.poetry)


def read_scores(path) -> dict:
    """{model: {"score", "kind"}} from a CSV (model, score[, kind]) or JSON lines with those keys."""
    p = Path(path)
    need_file(path, "--scores", "a CSV or JSON lines file: model, score[, kind]")
    rows = []
    text = p.read_text(encoding="utf-8")
    if p.suffix in (".jsonl", ".json"):
        rows = [json.loads(x) for x in text.splitlines() if x.strip()]
    else:
        rows = list(csv.DictReader(text.splitlines()))
    out = {}
    for n, r in enumerate(rows, 1):
        try:
            out[str(r["model"]).strip()] = {"score": float(r["score"]), "kind": (r.get("kind") or "").strip() or None}
        except (KeyError, TypeError, ValueError):
            raise UserError(f"{path}: row {n} needs model and a numeric score (optional kind: base | aligned)") from None
    return out


EMBEDDED = ("embedded:base", "embedded:aligned")
EMBEDDED_NOTE = ("Note: the embedded pair is a demo, not a matched base/aligned pair: embedded:base is gemma-3-270m "
                 "(base) and embedded:aligned is SmolLM2-135M-Instruct, two families of different sizes. "
                 "SmolLM2-135M-Instruct at T = 1 often writes word salad and comes out more diverse than gemma-3-270m "
                 "base, the opposite of both studies' findings; use these models to see how the probes work, not as "
                 "evidence for or against the studies.")


def report_path(root: Path, out) -> Path:
    """`--out`: a directory (an existing one, or a new path without .html/.htm) gets report.html inside;
    else the file itself."""
    if not out:
        return root / "report.html"
    out = Path(out)
    if out.is_dir() or (not out.exists() and out.suffix.lower() not in (".html", ".htm")):
        return out / "report.html"
    return out


def run_report(results_dir="results", out=None, scores=None) -> dict:
    root = Path(results_dir)
    if root.exists() and not root.is_dir():
        raise UserError(f"{results_dir} is a file, not a results directory (probe report takes the --out directory "
                        "of earlier runs, default results/)")
    if not root.is_dir():
        raise UserError(f"no results directory {results_dir}; run a probe first (e.g. probe compare --quick)")
    res = collect(root)
    out = report_path(root, out)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UserError('the report draws its figures with matplotlib: pip install -e ".[plots]"') from None
    from .plots import colour_context
    sections, failed = [], []
    with colour_context(sorted({r.model for r in res.runs if r.task != "compare"})):   # one colour per model
        for build in ORDER:
            try:
                sec = build(res)
            except Exception as exc:    # noqa: BLE001 - one odd result kind never stops the report
                failed.append(f"{build.__name__}: {type(exc).__name__}: {exc}")
                continue
            if sec is not None:
                sections.append(sec)
        if scores:
            sec = creative.tradeoff(res, read_scores(scores))
            if sec is not None:
                sections.append(sec)
    if res.problems or failed:
        sec = Section("problems", "Problems in the result files")
        sec.text("These lines were skipped; everything else above was used.")
        sec.table(["file", "line", "what"], [[str(f), n, why] for f, n, why in res.problems] +
                  [["(section)", "", f] for f in failed])
        sections.append(sec)
    if not sections:
        raise UserError(f"no results in {results_dir}; run a probe first (e.g. probe compare --quick)")
    title = "logitscope report"
    intro = (f"{len(res.runs)} result files under {root.resolve()}; written {time.strftime('%Y-%m-%d %H:%M')}. "
             "West & Potts 2025 (Base Models Beat Aligned Models at Randomness and Creativity) and Mohammadi 2024 "
             "(Creativity Has Left the Chat): each table is followed by the studies' published numbers, labelled "
             "by the study model they come from; a run of a study model also shows its own study figure in its "
             "row.")
    note = EMBEDDED_NOTE if {r.model for r in res.runs} & set(EMBEDDED) else ""
    md, figures = out.with_suffix(".md"), out.with_name(out.stem + "_files")
    files = (f"This page holds its figures (nothing to fetch); {md.name} beside it is the same report in markdown, "
             f"and the folder {figures.name}/ holds that markdown's figures as PNG files. The links to token pages "
             "and result files point into the results directory.")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(title, f"{intro} {files}", sections, out.parent, note), encoding="utf-8")
    md.write_text(render_markdown(title, intro, sections, figures, out.parent, note), encoding="utf-8")
    return {"html": str(out), "markdown": str(md), "markdown_figures": str(figures), "sections": [s.key for s in sections],
            "problems": [f"{f}:{n}: {why}" for f, n, why in res.problems] + failed}
