"""`probe report`, `probe compare`: every result side by side."""
from __future__ import annotations

import click

from ..limits import SEED
from .common import emit_json, load_kwargs, load_options, ranged, table


def _f(x, spec):
    return "-" if x is None or x != x else format(x, spec)


@click.command()
@click.argument("results_dir", default="results")
@click.option("--out", default=None,
              help="a directory (report.html written inside) or an .html file; default RESULTS_DIR/report.html; "
                   "a .md summary beside it")
@click.option("--scores", default=None, help="CSV or JSON lines: model, score[, kind]: the trade-off figure")
@click.option("--json", "as_json", is_flag=True)
def report(results_dir, out, scores, as_json):
    """One self-contained HTML report (and a markdown summary) from every result file."""
    from ..report.build import run_report
    res = run_report(results_dir, out, scores)
    if as_json:
        emit_json(res)
        return
    for p in res["problems"]:
        click.echo(f"listed in the report: {p}", err=True)
    click.echo(f"sections: {', '.join(res['sections'])}")
    click.echo(f"wrote {res['html']} (figures inside the page) and {res['markdown']} (the same in markdown; its "
               f"figures as PNGs in {res['markdown_figures']}/)")


@click.command()
@click.option("--model", "-m", "models", multiple=True, help="exactly two (default: embedded:base and embedded:aligned)")
@click.option("--tasks", default="integers,letters,sequences,rps,hide-seek,entropy,diversity", show_default=True)
@click.option("--quick", is_flag=True, help="small sample counts: a few minutes for the embedded models on 2 CPU cores")
@click.option("--seed", default=0, show_default=True, type=ranged(SEED))
@click.option("--out", default="results", show_default=True, help="result directory (rerun to resume)")
@click.option("--json", "as_json", is_flag=True)
@load_options
def compare(models, tasks, quick, seed, out, as_json, **kw):
    """Which of two models is more random, less predictable and more diverse, by how much, with a
    confidence interval; runs the probes (resuming) and writes the report."""
    from ..report.build import run_report
    from ..tasks.compare import run_compare
    models = models or ("embedded:base", "embedded:aligned")
    res = run_compare(list(models), tasks=[t.strip() for t in tasks.split(",") if t.strip()], quick=quick, seed=seed,
                      out=out, load=load_kwargs(kw))
    rep = run_report(out)
    res["report"] = rep["html"]
    if as_json:
        emit_json(res)
        return
    a, b = res["models"]
    click.echo(f"A = {a}, B = {b}" + ("  (--quick: small samples)" if quick else ""))
    click.echo(table([[r["measure"], _f(r["a"], ".3f"), _f(r["b"], ".3f"), _diff(r), _n(r),
                       {"A": a, "B": b, None: "no clear difference"}[r["more_random"]], r["note"]]
                      for r in res["rows"]],
                     ["measure", "A", "B", "B - A [95% CI; exact: bounds]", "n (A / B)", "more random / less predictable",
                      "note"]))
    click.echo(f"{res['seconds']:.0f} s; per task: " + ", ".join(f"{k} {v:.0f} s" for k, v in res["task_seconds"].items()))
    click.echo(f"rows: {res['results']}")
    click.echo(f"report: {rep['html']}")


def _diff(r) -> str:
    if r["diff"] is None:
        return "-"
    ci = "" if r["lo"] is None else f" [{r['lo']:+.3f}, {r['hi']:+.3f}]"
    return f"{r['diff']:+.3f}{ci}"


def _n(r) -> str:
    return "exact" if r["unit"] == "exact" else f"{r['n'][0]} / {r['n'][1]} {r['unit']}"
