"""`probe poetry generate | contest | judge | rank`: poetry contests (West & Potts 2025, Section 4)."""
from __future__ import annotations

from pathlib import Path

import click

from .common import emit_json, load_kwargs, load_options, table

AXES = ["originality", "pleasantness", "preference"]


def _log(msg):
    click.echo(msg, err=True)


def _f(x, spec):
    return "-" if x is None else format(x, spec)


@click.group()
def poetry():
    """Four-line poems: generate them, judge them (people or exact model judges), rank them."""


@poetry.command()
@click.option("--model", "-m", "models", multiple=True, help="repeatable; default: embedded:base and embedded:aligned")
@click.option("--topics", default=None, help="comma-separated, or a file with one per line (default: the study's 10)")
@click.option("--per-topic", default=20, show_default=True, help="4-line poems to parse per model and topic")
@click.option("--max-attempts", default=None, type=int, help="draws per topic before giving up (default 10 x per-topic)")
@click.option("--temperature", default=1.0, show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option("--rm", default=None, help="reward model (dir or name) to score every poem with")
@click.option("--out", default="results", show_default=True, help="result directory (rerun to resume)")
@click.option("--json", "as_json", is_flag=True)
@load_options
def generate(models, topics, per_topic, max_attempts, temperature, seed, rm, out, as_json, **kw):
    """Sample poems until --per-topic of them have exactly four non-empty lines, per model and topic."""
    from ..tasks.poetry.generate import run_generate
    rows = run_generate(models or ("embedded:base", "embedded:aligned"), topics=topics, per_topic=per_topic, seed=seed,
                        temperature=temperature, out=out, rm=rm, load=load_kwargs(kw), max_attempts=max_attempts,
                        log=_log)
    if as_json:
        emit_json(rows)
        return
    body = []
    for r in rows:
        for t, p in r["topics"].items():
            why = ", ".join(f"{k} {v}" for k, v in sorted(p["rejected"].items(), key=lambda kv: -kv[1]))
            reward = r.get("rewards", {}).get("mean", {}).get(t)
            body.append([r["model"], t, p["poems"], p["attempts"], f"{100 * p['poems'] / max(p['attempts'], 1):.0f}",
                         _f(reward, ".2f"), why or "-"])
    click.echo(table(body, ["model", "topic", "poems", "draws", "parsed %", "reward", "rejected"]))
    for r in rows:
        ex = next((p["example"] for p in r["topics"].values() if p["example"]), None)
        if ex:
            click.echo(f"\n{r['model']}, e.g.:\n" + "\n".join("  " + ln for ln in ex.splitlines()))
        if r["short"]:
            click.echo(f"{r['model']}: short of --per-topic on " + ", ".join(f"{t} ({n})" for t, n in r["short"].items()))
    click.echo(f"\npoems: {Path(out) / 'poetry'}/")


@poetry.command()
@click.option("--poems", "poems_dir", default="results/poetry", show_default=True, help="poetry results (file or dir)")
@click.option("--topic", required=True)
@click.option("--axis", type=click.Choice(AXES), required=True)
@click.option("--annotator", default=None, help="your name (required unless --export)")
@click.option("--per-model", default=5, show_default=True)
@click.option("--comparisons", default=60, show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option("--out", default="results", show_default=True, help="judgements go to OUT/poetry-judgements/")
@click.option("--export", "export_csv", default=None, help="write the contest's pairs to this CSV instead")
@click.option("--import", "import_csv", default=None, help="append judgements (pair, annotator, choice) from this CSV")
def contest(poems_dir, topic, axis, annotator, per_model, comparisons, seed, out, export_csv, import_csv):
    """Judge pairs of anonymised poems in the terminal (1 left, 2 right, s skip, q quit); resumes."""
    from ..errors import UserError
    from ..tasks.poetry.contest import contest_poems, export_pairs, import_judgements, load_poems, schedule
    if export_csv or import_csv:
        chosen = contest_poems(load_poems(poems_dir), topic, per_model)
        topic = next(iter(chosen.values()))["topic"]
        pairs, bag = schedule(chosen, topic, axis, comparisons, seed)
        if export_csv:
            click.echo(f"wrote {len(pairs)} pairs (1 control) to {export_pairs(pairs, chosen, bag, topic, axis, export_csv)}")
        if import_csv:
            added, problems = import_judgements(import_csv, pairs, topic, axis, out)
            for p in problems:
                click.echo(f"skipped {p}", err=True)
            click.echo(f"imported {added} judgements into {Path(out) / 'poetry-judgements'}/")
        return
    if not annotator:
        raise UserError("--annotator NAME is required for a terminal contest")
    from ..tasks.poetry.terminal import run_contest
    res = run_contest(poems_dir, topic, axis, annotator, per_model=per_model, comparisons=comparisons, seed=seed, out=out)
    click.echo(f"{res['annotator']}: {res['judged']} of {res['pairs']} pairs judged ({res['left']} left) -> {res['path']}")


@poetry.command()
@click.option("--poems", "poems_dir", default="results/poetry", show_default=True)
@click.option("--judge", "judge", default="embedded:aligned", show_default=True, help="the judge model")
@click.option("--axis", type=click.Choice(AXES), required=True)
@click.option("--topic", "topics", multiple=True, help="repeatable (default: every topic of the poems)")
@click.option("--per-model", default=5, show_default=True)
@click.option("--comparisons", default=60, show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option("--min-mass", default=1e-6, show_default=True)
@click.option("--out", default="results", show_default=True)
@click.option("--json", "as_json", is_flag=True)
@load_options
def judge(poems_dir, judge, axis, topics, per_model, comparisons, seed, min_mass, out, as_json, **kw):
    """A model judges every pair: its exact P(A) vs P(B), asked in both orders and averaged."""
    from ..tasks.poetry.judge import run_judge
    rows = run_judge(poems_dir, judge, axis, topics=list(topics) or None, per_model=per_model, comparisons=comparisons,
                     seed=seed, out=out, load=load_kwargs(kw), min_mass=min_mass, log=_log)
    if as_json:
        emit_json(rows)
        return
    click.echo(table([[r["judge"], r["topic"], r["axis"], r["pairs"], _f(r["position_bias"], ".3f"),
                       _f(r["mean_shift"], "+.3f"), _f(r["mean_invalid_mass"], ".3f"),
                       {True: "yes", False: "NO", None: "-"}[r["control_correct"]]] for r in rows],
                     ["judge", "topic", "axis", "pairs", "P(first)", "shift", "invalid", "control ok"]))
    click.echo("P(first) = how often the judge picks the poem shown first (0.5 = no position bias); "
               "shift = P(a poem wins | shown first) - P(it wins | shown second)")
    for r in rows:
        for k in r["agreement_with_people"]:
            other = k["b"] if k["a"].startswith("judge:") else k["a"]
            click.echo(f"{r['topic']}: judge vs {other}: kappa {k['kappa']:.2f}, agreement {k['agreement']:.2f} "
                       f"on {k['items']} pairs")


@poetry.command()
@click.option("--judgements", "paths", multiple=True, default=("results/poetry-judgements",), show_default=True,
              help="judgement files or directories, repeatable")
@click.option("--rewards", "rewards", multiple=True, help="poetry results with rewards (probe poetry generate --rm)")
@click.option("--seed", default=0, show_default=True)
@click.option("--out", default="results", show_default=True)
@click.option("--json", "as_json", is_flag=True)
def rank(paths, rewards, seed, out, as_json):
    """Bradley-Terry rankings per contest and model, agreement, control accuracy, Spearman's rho."""
    from ..report.plots import rank_figure
    from ..tasks.poetry.rank import run_rank
    res = run_rank(list(paths), rewards=list(rewards), seed=seed)
    fig = rank_figure(res, Path(out) / "poetry-judgements" / "ranking.png")
    for p in res["malformed"]:
        click.echo(f"skipped {p}", err=True)
    if as_json:
        emit_json(res)
        return
    axes = sorted(res["wins"])
    models = sorted({m for a in axes for m in res["models"][a]})
    click.echo(f"{res['judgements']} judgements; wins = contests (topics) won per axis; strength = Bradley-Terry "
               "log-strength [95% CI]")
    click.echo(table([[m, *[f"{res['wins'][a].get(m, 0)}  {res['models'][a][m]['strength']:+.2f} "
                            f"[{res['models'][a][m]['lo']:+.2f}, {res['models'][a][m]['hi']:+.2f}]"
                            if m in res["models"][a] else "-" for a in axes]] for m in models], ["model", *axes]))
    for c in res["contests"]:
        click.echo(f"{c['topic']} / {c['axis']}: winner {c['winner']} ({c['judgements']} judgements by "
                   f"{', '.join(c['annotators'])})")
    for line in agreement_lines(res):
        click.echo(line)
    for who, c in res["control"].items():
        click.echo(f"control pairs {who}: {c['correct']}/{c['controls']}" + ("  <- below 100%" if c["flag"] else ""))
    for r in res["spearman_axes"]:
        click.echo(f"Spearman {r['a']} vs {r['b']}: rho {r['rho']:+.2f} (p {r['p']:.2g}, {r['n']} poems)")
    for rm, by_axis in res["spearman_reward"].items():
        for a, r in by_axis.items():
            if r:
                click.echo(f"Spearman {a} vs reward ({rm}): rho {r['rho']:+.2f} (p {r['p']:.2g}, {r['n']} poems)")
    click.echo(f"figure: {fig}" if isinstance(fig, Path) else fig)


def agreement_lines(res) -> list[str]:
    """Per axis: Cohen's kappa of every two annotators beside the study's, Krippendorff's alpha."""
    from ..report.study import POETRY_KAPPA
    out = []
    for axis, ag in res["agreement"].items():
        study = f" (the study's annotators: {POETRY_KAPPA[axis]:.2f})" if axis in POETRY_KAPPA else ""
        for k in ag["kappa"]:
            val = f"{k['kappa']:+.2f}" if k["kappa"] is not None else f"undefined ({k['note'].split(': ', 1)[-1]})"
            out.append(f"{axis}: Cohen's kappa {k['a']} vs {k['b']} {val} on {k['items']} shared pairs "
                       f"(raw agreement {k['agreement']:.2f}){study}")
        kr = ag["krippendorff"]
        if kr["alpha"] is not None:
            out.append(f"{axis}: Krippendorff's alpha {kr['alpha']:+.2f} ({kr['annotators']} annotators, "
                       f"{kr['pairs']} pairs)")
        elif kr["annotators"] >= 3:
            why = kr["note"] if kr["note"].startswith("undefined") else f"not computed: {kr['note']}"
            out.append(f"{axis}: Krippendorff's alpha {why}")
    return out
