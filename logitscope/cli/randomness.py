"""`probe integers`, `probe letters`, `probe sequences`: randomness against uniform."""
from __future__ import annotations

from pathlib import Path

import click

from .common import emit_json, load_kwargs, load_options, table

DEFAULT_MODELS = ("embedded:base", "embedded:aligned", "uniform")


def _log(msg):
    click.echo(msg, err=True)


def _common(f):
    f = click.option("--json", "as_json", is_flag=True, help="print the rows as JSON")(f)
    f = click.option("--out", default="results", show_default=True, help="result directory (rerun to resume)")(f)
    f = click.option("--seed", default=0, show_default=True)(f)
    f = click.option("--top-p", "top_ps", multiple=True, type=float, help="repeatable (default 1.0)")(f)
    f = click.option("--temperature", "temperatures", multiple=True, type=float,
                     help="repeatable, e.g. --temperature 1 --temperature 1.5 (default 1.0)")(f)
    f = click.option("--infix", default=None, help="text that opens the answer (default: the task's)")(f)
    f = click.option("--model", "-m", "models", multiple=True,
                     help="repeatable; default: embedded:base, embedded:aligned and the uniform oracle")(f)
    return load_options(f)


def _fmt(x, spec):
    return "-" if x is None else format(x, spec)


def _single(task, models, paraphrase, temperatures, top_ps, samples, seed, out, infix, as_json, kw):
    from ..report.plots import answer_bars, temperature_curve
    from ..tasks.single import run_single
    rows = run_single(task, models or DEFAULT_MODELS, paraphrase=paraphrase, temperatures=temperatures or (1.0,),
                      top_ps=top_ps or (1.0,), samples=samples, seed=seed, out=out, infix=infix,
                      load=load_kwargs(kw), log=_log)
    figs = [answer_bars(rows, Path(out) / task.name / "distribution.png", f"{task.name}: exact answer distribution")]
    if len(set(r["temperature"] for r in rows)) > 1:
        figs.append(temperature_curve(rows, Path(out) / task.name / "temperature.png", f"{task.name}: temperature"))
    if as_json:
        emit_json(rows)
        return
    labels = list(rows[0]["probs"])
    click.echo(f"{task.name}: exact answer distributions, P(answer | valid); chi-square for {samples} valid samples")
    click.echo(table([[r["model"], r["paraphrase"], f"{r['temperature']:g}", f"{r['top_p']:g}",
                       *[f"{r['probs'][a]:.3f}" for a in labels], f"{r['valid_mass']:.3f}",
                       _fmt(r["entropy_bits"], ".3f"), _fmt(r["chi2_expected"], ".1f"), _fmt(r["chi2_sampled"], ".1f"),
                       _fmt(r["p_value"], ".2g"), r["mode"]] for r in rows],
                     ["model", "para", "T", "top-p", *labels, "valid", "H bits", "E[chi2]", "chi2", "p", "mode"]))
    click.echo(f"uniform over {len(labels)} answers: H = {__import__('math').log2(len(labels)):.3f} bits, "
               f"E[chi2] = {len(labels) - 1}")
    for f in figs:
        click.echo(f"figure: {f}" if isinstance(f, Path) else f)


def _single_command(name: str, what: str):
    @click.command(name=name, help=f"{what}: exact distribution, entropy, expected and sampled chi-square.")
    @_common
    @click.option("--paraphrase", default="0", show_default=True, help="all | N | N,M (0 is the study's prompt)")
    @click.option("--samples", default=1500, show_default=True, help="valid samples for the chi-square (the study: 1500)")
    def command(models, infix, temperatures, top_ps, seed, out, as_json, paraphrase, samples, **kw):
        import importlib
        task = importlib.import_module(f"logitscope.tasks.{name}").TASK
        _single(task, models, paraphrase, temperatures, top_ps, samples, seed, out, infix, as_json, kw)
    return command


integers = _single_command("integers", "A random integer 0-10")
letters = _single_command("letters", "A random letter a-k")


@click.command()
@_common
@click.option("--samples", default=100, show_default=True, help="sequences per model and setting")
def sequences(models, infix, temperatures, top_ps, seed, out, as_json, samples, **kw):
    """Sequences of ten integers 0-10 written by the model: repeats, chi-square, position heatmap."""
    from ..report.plots import position_heatmaps
    from ..tasks.sequences import run_sequences
    rows = run_sequences(models or DEFAULT_MODELS, samples=samples, temperatures=temperatures or (1.0,),
                         top_ps=top_ps or (1.0,), seed=seed, out=out, infix=infix, load=load_kwargs(kw), log=_log)
    fig = position_heatmaps(rows, Path(out) / "sequences" / "positions.png", "value x position")
    if as_json:
        emit_json(rows)
        return
    click.echo("sequences of ten integers 0-10; repeats per sequence (uniform: mode 3); pooled chi-square of all numbers")
    click.echo(table([[r["model"], f"{r['temperature']:g}", f"{r['top_p']:g}", r["parsed"], r["unparseable"],
                       _fmt(r["repeat_mode"], "d"), _fmt(r["mean_repeats"], ".2f"),
                       _fmt(r["repeat_mse_vs_uniform"], ".4f"), _fmt(r["chi2"], ".1f"), _fmt(r["p_value"], ".2g")]
                      for r in rows],
                     ["model", "T", "top-p", "parsed", "unparseable", "mode", "mean", "MSE vs uniform", "chi2", "p"]))
    for r in rows:
        if r["examples"]:
            click.echo(f"{r['model']}: e.g. {r['examples'][0].strip()[:70]!r}")
    click.echo(f"figure: {fig}" if isinstance(fig, Path) else fig)
