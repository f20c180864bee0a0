"""`probe poetry generate | contest | judge | rank`: poetry contests (West & Potts 2025, Section 4).

One spelling across the commands: `--topic` (repeatable where several make sense), `--per-model` =
poems per model and topic, `--poems` and `--run` name the poems a contest takes."""
from __future__ import annotations

from pathlib import Path

import click

from ..limits import COUNT, MIN_MASS, SEED, TEMPERATURE
from .common import emit_json, load_kwargs, load_options, ranged, table

AXES = ["originality", "pleasantness", "preference"]


def _f(x, spec):
    return "-" if x is None else format(x, spec)


def _n(k: int, word: str) -> str:
    return f"{k} {word}{'s' * (k != 1)}"


def contest_options(f):
    """--poems --run --per-model --comparisons --seed: which poems and pairs a contest takes."""
    f = click.option("--seed", default=0, show_default=True, type=ranged(SEED), help="schedules the pairs")(f)
    f = click.option("--comparisons", default=60, show_default=True, type=ranged(COUNT), help="pairs per contest (plus one control)")(f)
    f = click.option("--per-model", type=ranged(COUNT), default=None,
                     help="poems per model and topic (default: the most every model has on the topic)")(f)
    f = click.option("--run", "runs", multiple=True, help="take only this run's poems (its config hash or a prefix; "
                     "repeatable); needed when a model has poems from several runs")(f)
    f = click.option("--poems", "poems_dir", multiple=True, default=("results/poetry",), show_default=True,
                     help="poetry result files or directories, repeatable")(f)
    return f


@click.group()
def poetry():
    """Four-line poems: generate them, judge them (people or exact model judges), rank them."""


@poetry.command()
@click.option("--model", "-m", "models", multiple=True, help="repeatable; default: embedded:base and embedded:aligned")
@click.option("--topic", "topics", multiple=True,
              help="repeatable: a topic, a comma-separated list, or a file with one topic a line "
                   "(default: the study's 10)")
@click.option("--topics", "old_topics", multiple=True, hidden=True)
@click.option("--per-model", type=ranged(COUNT), default=None, help="4-line poems to parse per model and topic  [default: 20]")
@click.option("--per-topic", "old_per_topic", type=ranged(COUNT), default=None, hidden=True)
@click.option("--max-attempts", default=None, type=ranged(COUNT),
              help="draws per topic before giving up (default 10 x per-model)")
@click.option("--temperature", default=1.0, show_default=True, type=ranged(TEMPERATURE))
@click.option("--seed", default=0, show_default=True, type=ranged(SEED))
@click.option("--rm", default=None, help="reward model (dir or name) to score every poem with")
@click.option("--out", default="results", show_default=True, help="result directory (rerun to resume)")
@click.option("--json", "as_json", is_flag=True)
@load_options
def generate(models, topics, old_topics, per_model, old_per_topic, max_attempts, temperature, seed, rm, out, as_json,
             **kw):
    """Sample poems until --per-model of them have exactly four non-empty lines, per model and topic."""
    from ..tasks.poetry.generate import run_generate
    per_model = per_model if per_model is not None else old_per_topic if old_per_topic is not None else 20
    rows = run_generate(models or ("embedded:base", "embedded:aligned"), topics=list(topics + old_topics),
                        per_model=per_model, seed=seed, temperature=temperature, out=out, rm=rm, load=load_kwargs(kw),
                        max_attempts=max_attempts)
    if as_json:
        emit_json(rows)
        return
    body = []
    for r in rows:
        for t, p in r["topics"].items():
            why = ", ".join(f"{k} {v}" for k, v in sorted(p["rejected"].items(), key=lambda kv: -kv[1]))
            reward = r.get("rewards", {}).get("mean", {}).get(t)
            body.append([r["model"], r["run"], t, p["poems"], p["attempts"],
                         f"{100 * p['poems'] / max(p['attempts'], 1):.0f}", _f(reward, ".2f"), why or "-"])
    click.echo(table(body, ["model", "run", "topic", "poems", "draws", "parsed %", "reward", "rejected"]))
    click.echo("draws: this run's, in order up to its last poem; parsed % = poems / draws; rejected: why the "
               "other draws are not 4-line poems")
    for r in rows:
        why = "; rejected: " + ", ".join(f"{k} {v}" for k, v in r["rejected"].items()) if r["rejected"] else ""
        click.echo(f"{r['model']}: {r['attempts']} draws tried, {r['poems']} kept "
                   f"({100 * r['poems'] / max(r['attempts'], 1):.0f}%){why}")
    for r in rows:
        ex = next((p["example"] for p in r["topics"].values() if p["example"]), None)
        if ex:
            click.echo(f"\n{r['model']}, e.g.:\n" + "\n".join("  " + ln for ln in ex.splitlines()))
        if r["short"]:
            short = ", ".join(f"{t} ({n})" for t, n in r["short"].items())
            click.echo(f"{r['model']}: short of --per-model on {short}")
    click.echo(f"\npoems: {Path(out) / 'poetry'}/")


@poetry.command()
@contest_options
@click.option("--topic", required=True)
@click.option("--axis", type=click.Choice(AXES), required=True)
@click.option("--annotator", default=None, help="your name (required unless --export or --import)")
@click.option("--out", default="results", show_default=True, help="judgements go to OUT/poetry-judgements/")
@click.option("--export", "export_csv", default=None,
              help="write the contest's pairs to this CSV for blind annotators (fill in annotator and choice)")
@click.option("--import", "import_csv", default=None, help="append the judgements of a CSV made by --export")
def contest(poems_dir, runs, per_model, comparisons, seed, topic, axis, annotator, out, export_csv, import_csv):
    """Judge pairs of anonymised poems in the terminal (1 left, 2 right, s skip, u undo, q quit); resumes."""
    from ..errors import UserError
    from ..tasks.poetry.contest import load_poems, open_contest
    if export_csv or import_csv:
        from ..tasks.poetry.crowd import check_paths, export_pairs, import_judgements
        check_paths(export_csv, import_csv)
        c = open_contest(load_poems(poems_dir, runs), topic, axis, per_model=per_model, comparisons=comparisons,
                         seed=seed)
        if export_csv:
            path = export_pairs(c, export_csv)
            controls = sum(p.control for p in c.pairs)
            click.echo(f"wrote {_n(len(c.pairs) - controls, 'pair')} and {_n(controls, 'control pair')} to {path}")
        if import_csv:
            got = import_judgements(import_csv, c, out)
            click.echo(f"imported {got['added']} judgements into {Path(out) / 'poetry-judgements'}/"
                       + (f" ({got['reused']} already there)" if got["reused"] else "")
                       + (f"; {got['blank']} row{'s' * (got['blank'] != 1)} not filled in" if got["blank"] else ""))
        return
    if not annotator:
        raise UserError("--annotator NAME is required for a terminal contest")
    from ..tasks.poetry.terminal import run_contest
    res = run_contest(poems_dir, topic, axis, annotator, per_model=per_model, comparisons=comparisons, seed=seed,
                      out=out, runs=runs)
    click.echo(f"{res['annotator']}: {res['judged']} of {res['pairs'] + res['controls']} judged "
               f"({_n(res['pairs'], 'pair')} and {_n(res['controls'], 'control pair')}; {res['left']} left) "
               f"-> {res['path']}")


@poetry.command()
@contest_options
@click.option("--judge", "judge", default="embedded:aligned", show_default=True, help="the judge model")
@click.option("--axis", type=click.Choice(AXES), required=True)
@click.option("--topic", "topics", multiple=True, help="repeatable (default: every topic of the poems)")
@click.option("--min-mass", default=1e-6, show_default=True, type=ranged(MIN_MASS))
@click.option("--out", default="results", show_default=True)
@click.option("--json", "as_json", is_flag=True)
@load_options
def judge(poems_dir, runs, per_model, comparisons, seed, judge, axis, topics, min_mass, out, as_json, **kw):
    """A model judges every pair: its exact P(A) vs P(B), asked in both orders and averaged."""
    from ..probes.ranking import UNDECIDED_TOL
    from ..report.sections_poetry import kappa_value
    from ..tasks.poetry.judge import run_judge
    rows = run_judge(poems_dir, judge, axis, topics=list(topics) or None, per_model=per_model, comparisons=comparisons,
                     seed=seed, out=out, load=load_kwargs(kw), min_mass=min_mass, runs=runs)
    if as_json:
        emit_json(rows)
        return
    control = {True: "judged right", False: "judged wrong", None: "-"}
    click.echo(table([[r["judge"], r["topic"], r["axis"], r["per_model"], r["pairs"], _f(r["position_bias"], ".3f"),
                       _f(r["mean_shift"], "+.3f"), _f(r["mean_invalid_mass"], ".3f"),
                       "undecided" if r.get("control_undecided") else control[r["control_correct"]]]
                      for r in rows],
                     ["judge", "topic", "axis", "poems/model", "pairs", "P(first)", "shift", "mean invalid mass",
                      "control pair"]))
    click.echo("pairs = the contest's pairs of poems, its control pair apart; P(first) = how often the judge picks "
               "the poem shown first (0.5 = no position bias); shift = P(a poem wins | shown first) - P(it wins | "
               "shown second)")
    click.echo("mean invalid mass = the judge's probability of answering neither A nor B, averaged over its "
               "readouts (both orders of every pair); control pair = whether it preferred the real poem to the "
               "bag of the contest's words (the right answer on every axis); undecided = P(left) within "
               f"{UNDECIDED_TOL:g} of 0.5, no decision (left out of kappa and control accuracy)")
    for r in rows:
        for k in r["agreement_with_people"]:
            other = k["b"] if k["a"].startswith("judge:") else k["a"]
            agree = f", agreement {k['agreement']:.2f}" if k["agreement"] is not None else ""
            click.echo(f"{r['topic']}: judge vs {other}: kappa {kappa_value(k)}{agree} on {k['items']} pairs"
                       + (f" ({k['undecided']} undecided, left out)" if k["undecided"] else ""))


@poetry.command()
@click.option("--judgements", "paths", multiple=True, default=("results/poetry-judgements",), show_default=True,
              help="judgement files or directories (their files named as contest and judge write them), repeatable")
@click.option("--rewards", "rewards", multiple=True, help="poetry results with rewards (probe poetry generate --rm)")
@click.option("--seed", default=0, show_default=True, type=ranged(SEED))
@click.option("--out", default=None, help="write the figure to OUT/poetry-judgements/ (default: beside the judgements)")
@click.option("--json", "as_json", is_flag=True)
def rank(paths, rewards, seed, out, as_json):
    """Bradley-Terry rankings per contest and model, agreement, control accuracy, Spearman's rho."""
    from ..report.plots import rank_figure
    from ..report.sections_poetry import control_text, legend, strength_rows, verdict_rows
    from ..tasks.poetry.rank import figure_path, run_rank
    res = run_rank(list(paths), rewards=list(rewards), seed=seed)
    fig = rank_figure(res, figure_path(res["files"], out))
    for p in res["malformed"]:
        click.echo(f"warning: {p}", err=True)
    if as_json:
        emit_json(res)
        return
    click.echo(f"{res['judgements']} judgements from {_n(len(res['files']), 'file')}"
               + (f" ({res['undecided']} undecided: an exact judge's P(left) within {res['undecided_tol']:g} of 0.5)"
                  if res["undecided"] else ""))
    click.echo(table(strength_rows(res), ["axis", "model", "contests won", "log-strength", "95% CI", "n"]))
    click.echo(legend(res))
    for m, runs in res["runs_apart"].items():
        click.echo(f"runs apart: {m} has judged poems from {len(runs)} runs ({', '.join(map(str, runs))}), "
                   f"ranked as one entry each ({m}@run)")
    rows = verdict_rows(res)
    for k, (topic, axis, said, comparisons, judgements) in enumerate(rows):
        who = f" by {', '.join(res['contests'][k]['annotators'])}" if k < len(res["contests"]) else ""
        click.echo(f"{topic} / {axis}: {said} ({_n(comparisons, 'comparison')} from {_n(judgements, 'judgement')}{who})")
    for line in agreement_lines(res):
        click.echo(line)
    for who, c in res["control"].items():
        click.echo(f"control pairs {who}: {control_text(c)}")
    from ..report.numbers import spearman
    for r in res["spearman_axes"]:
        click.echo(f"Spearman {r['a']} vs {r['b']}: {spearman(r, 'poems')}")
    for rm, by_axis in res["spearman_reward"].items():
        for a, r in by_axis.items():
            if r:
                click.echo(f"Spearman {a} vs reward ({rm}): {spearman(r, 'poems')}")
    click.echo(f"figure: {fig}" if isinstance(fig, Path) else fig)


def agreement_lines(res) -> list[str]:
    """Per axis: Cohen's kappa of every two annotators (the study's annotators' kappa in the axis'
    line), Krippendorff's alpha; each over the pairs decided, the undecided counted."""
    from ..report.sections_poetry import kappa_value
    from ..report.study import POETRY_KAPPA_NOTE
    out = [f"({POETRY_KAPPA_NOTE})"] if res["agreement"] else []
    for axis, ag in res["agreement"].items():
        out.append(f"{axis} agreement:")
        for k in ag["kappa"]:
            line = f"  Cohen's kappa {k['a']} vs {k['b']} {kappa_value(k)} on {k['items']} shared pairs"
            extra = [f"raw agreement {k['agreement']:.2f}"] if k["agreement"] is not None else []
            extra += [f"{k['undecided']} undecided, left out"] if k["undecided"] else []
            out.append(line + (f" ({'; '.join(extra)})" if extra else ""))
        kr = ag["krippendorff"]
        left_out = f", {kr['undecided']} undecided readings left out" if kr["undecided"] else ""
        if kr["alpha"] is not None:
            out.append(f"  Krippendorff's alpha {kr['alpha']:+.2f} ({kr['annotators']} annotators, "
                       f"{kr['pairs']} pairs{left_out})")
        elif kr["annotators"] >= 3:
            why = kr["note"] if kr["note"].startswith("undefined") else f"not computed: {kr['note']}"
            out.append(f"  Krippendorff's alpha {why}" + (f" ({left_out[2:]})" if left_out else ""))
        if out[-1] == f"{axis} agreement:":
            out[-1] += (" none to measure (one annotator)" if kr["annotators"] < 2 else
                        " none to measure (no two annotators judged two or more of the same pairs)")
    return out
