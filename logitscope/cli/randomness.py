"""West & Potts 2025, randomness: `probe dist` (the next-token distribution and exact answers),
`probe integers`, `probe letters`, `probe sequences` (randomness against uniform) and `probe reward`."""
from __future__ import annotations

from pathlib import Path

import click

from ..progress import note as _log   # a note on stderr (nothing with probe --quiet)
from ..report.numbers import CONSTANT_AXIS, corr, mode_text, p_value, prob     # numbers as read
from ..limits import BATCH, COUNT, MIN_MASS, SEED, TEMPERATURE, TOP_K, TOP_P
from .common import emit_json, load_kwargs, load_options, ranged, table, visible

DEFAULT_MODELS = ("embedded:base", "embedded:aligned", "uniform")


def _common(f):
    f = click.option("--json", "as_json", is_flag=True, help="print the rows as JSON")(f)
    f = click.option("--out", default="results", show_default=True, help="result directory (rerun to resume)")(f)
    f = click.option("--seed", default=0, show_default=True, type=ranged(SEED))(f)
    f = click.option("--top-p", "top_ps", multiple=True, type=ranged(TOP_P), help="repeatable (default 1.0)")(f)
    f = click.option("--temperature", "temperatures", multiple=True, type=ranged(TEMPERATURE),
                     help="repeatable, e.g. --temperature 1 --temperature 1.5 (default 1.0)")(f)
    f = click.option("--infix", default=None, help="text that opens the answer (default: the task's)")(f)
    f = click.option("--model", "-m", "models", multiple=True,
                     help="repeatable; default: embedded:base, embedded:aligned and the uniform oracle")(f)
    return load_options(f)


def _fmt(x, spec):
    return "-" if x is None else format(x, spec)


def _p(r, chi2_key: str, bins: int) -> str:
    """A row's chi-square p-value; its log10 from the chi-square where p underflowed and the row (a unit an
    older version wrote) does not carry it."""
    from ..probes.stats import chi2_log10_sf
    log10_p = r.get("p_value_log10")
    if log10_p is None and r.get(chi2_key) is not None:
        log10_p = chi2_log10_sf(r[chi2_key], bins - 1)
    return p_value(r["p_value"], log10_p)


def _single(task, models, paraphrase, temperatures, top_ps, samples, seed, out, infix, as_json, kw):
    from ..report.plots import answer_bars, temperature_curve
    from ..tasks.randomness.single import run_single
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
                       *[prob(r["probs"][a]) for a in labels], prob(r["valid_mass"]),
                       _fmt(r["entropy_bits"], ".3f"), _fmt(r["chi2_expected"], ".1f"), _fmt(r["chi2_sampled"], ".1f"),
                       _p(r, "chi2_sampled", len(labels)), mode_text(r)] for r in rows],
                     ["model", "para", "T", "top-p", *labels, "valid", "H bits", "E[chi2]", "chi2", "p", "mode"]))
    click.echo(f"uniform over {len(labels)} answers: H = {__import__('math').log2(len(labels)):.3f} bits, "
               f"E[chi2] = {len(labels) - 1}")
    for f in figs:
        click.echo(f"figure: {f}" if isinstance(f, Path) else f)


def _single_command(name: str, what: str):
    @click.command(name=name, help=f"{what}: exact distribution, entropy, expected and sampled chi-square.")
    @_common
    @click.option("--paraphrase", default="0", show_default=True, help="all | N | N,M (0 is the study's prompt)")
    @click.option("--samples", default=1500, show_default=True, type=ranged(COUNT),
                  help="answers drawn per model and setting (from the exact distribution) for the sampled "
                       "chi-square; the expected chi-square is for as many (the study: 1500)")
    def command(models, infix, temperatures, top_ps, seed, out, as_json, paraphrase, samples, **kw):
        import importlib
        task = importlib.import_module(f"logitscope.tasks.randomness.{name}").TASK
        _single(task, models, paraphrase, temperatures, top_ps, samples, seed, out, infix, as_json, kw)
    return command


integers = _single_command("integers", "A random integer 0-10")
letters = _single_command("letters", "A random letter a-k")


@click.command()
@_common
@click.option("--samples", default=100, show_default=True, type=ranged(COUNT), help="sequences drawn per model and setting")
def sequences(models, infix, temperatures, top_ps, seed, out, as_json, samples, **kw):
    """Sequences of ten integers 0-10 written by the model: repeats, chi-square, position heatmap."""
    from ..report.plots import position_heatmaps
    from ..tasks.randomness.sequences import run_sequences
    rows = run_sequences(models or DEFAULT_MODELS, samples=samples, temperatures=temperatures or (1.0,),
                         top_ps=top_ps or (1.0,), seed=seed, out=out, infix=infix, load=load_kwargs(kw), log=_log)
    fig = position_heatmaps(rows, Path(out) / "sequences" / "positions.png", "value x position")
    if as_json:
        emit_json(rows)
        return
    click.echo("sequences of ten integers 0-10; repeats per sequence (uniform: mode 3); pooled chi-square of all numbers")
    click.echo(table([[r["model"], f"{r['temperature']:g}", f"{r['top_p']:g}", r["parsed"], r["unparseable"],
                       _fmt(r["repeat_mode"], "d"), _fmt(r["mean_repeats"], ".2f"),
                       prob(r["repeat_mse_vs_uniform"], 4), _fmt(r["chi2"], ".1f"), _p(r, "chi2", len(r["position_counts"]))]
                      for r in rows],
                     ["model", "T", "top-p", "parsed", "unparseable", "mode", "mean", "MSE vs uniform", "chi2", "p"]))
    for r in rows:
        if r["examples"]:
            click.echo(f"{r['model']}: e.g. {r['examples'][0].strip()[:70]!r}")
    click.echo(f"figure: {fig}" if isinstance(fig, Path) else fig)


@click.command()
@click.option("--model", "-m", "model", default="embedded:aligned", show_default=True, help="model spec")
@click.option("--prompt", "-p", required=True, help="the user prompt")
@click.option("--infix", default="", help='text that opens the answer, e.g. "Number:"')
@click.option("--top-k", "--top", "top_k", default=10, show_default=True, type=ranged(TOP_K), help="how many next tokens to list")
@click.option("--answers", default=None, help="0-10 | 0-10+words | a-k | rps | hide-seek | FILE")
@click.option("--method", type=click.Choice(["exact", "first-token"]), default="exact", show_default=True)
@click.option("--temperature", default=1.0, show_default=True, type=ranged(TEMPERATURE))
@click.option("--top-p", default=1.0, show_default=True, type=ranged(TOP_P))
@click.option("--min-mass", default=1e-6, show_default=True, type=ranged(MIN_MASS), help="prune branches below this mass (exact)")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@load_options
def dist(model, prompt, infix, top_k, answers, method, temperature, top_p, min_mass, as_json, **kw):
    """Show what the model would say next: top-K tokens, entropy, and exact answer probabilities."""
    from ..tasks.randomness.dist import run_dist
    out = run_dist(model, prompt, infix=infix, top_k=top_k, answers=answers, method=method,
                   temperature=temperature, top_p=top_p, min_mass=min_mass, **load_kwargs(kw))
    if as_json:
        emit_json(out)
        return
    click.echo(f"model {out['model']}  format {out['format']}  prompt {out['prompt_text']!r}")
    if out.get("top"):
        click.echo(f"next token at T={temperature:g}, top-p={top_p:g}")
        click.echo(table([[i + 1, t["token_id"], visible(t["token"]), prob(t["prob"], 4)]
                          for i, t in enumerate(out["top"])], ["#", "id", "token", "prob"]))
        click.echo(f"the {len(out['top'])} shown hold {prob(1 - out['mass_below'], 4)} of the mass, the rest "
                   f"{prob(out['mass_below'], 4)}")
        click.echo(f"entropy {out['entropy_bits']:.3f} bits (full vocabulary)   "
                   f"top-5 entropy {out['top5_entropy_bits']:.3f} bits")
    if answers:
        label = "exact" if out["method"] == "exact" else "APPROXIMATE (first-token readout)"
        click.echo(f"\nanswers ({label}, T={temperature}, top-p={top_p})")
        click.echo(table([[a, prob(p, 5), prob(out["renormalised"][a], 4)] for a, p in out["answers"].items()],
                         ["answer", "P(answer)", "P(answer | valid)"]))
        capped = out.get("capped_mass", 0.0)
        past = f" ({capped:.2e} of it past the tree's work cap)" if capped else ""
        click.echo(f"valid {prob(out['valid_mass'], 5)}   invalid {prob(out['invalid_mass'], 5)}   "
                   f"unexplored {out['unexplored_mass']:.2e}{past}   ({out['forwards']} forward passes)")


@click.command()
@click.option("--rm", "rm_spec", default="tulu3-8b-rm", show_default=True,
              help="reward model: registry name, local sequence-classification dir, or cached hub id")
@click.option("--input", "input_path", default=None, help="JSON lines with prompt + response (or messages)")
@click.option("--output", "output_path", default=None, help="default: INPUT with .rewards.jsonl (rerun resumes)")
@click.option("--prompt", default=None, help="score a single pair: the prompt ...")
@click.option("--response", default=None, help="... and the response")
@click.option("--task", default=None, type=click.Choice(["integers", "letters"]),
              help="reward of each of the task's answers, and its correlation with --model's answer probabilities")
@click.option("--model", "-m", "models", multiple=True, help="models to correlate with (--task); repeatable")
@click.option("--template", type=click.Choice(["auto", "tulu", "chat"]), default="auto", show_default=True,
              help="auto: the RM tokenizer's chat template if it has one, else <|user|>/<|assistant|> (Tulu)")
@click.option("--batch-size", default=8, show_default=True, type=ranged(BATCH))
@click.option("--out", default="results", show_default=True, help="result directory for --task")
@click.option("--dtype", default=None, help="fp32 | bf16 | fp16 (default fp32 on CPU, bf16 on GPU)")
@click.option("--device", default=None)
@click.option("--device-map", default=None, help="auto | balanced | FILE.json (accelerate)")
@click.option("--max-memory", default=None, help="with --device-map: 0=40GiB,1=40GiB,cpu=100GiB")
@click.option("--quantize", type=click.Choice(["none", "fp8", "int8"]), default="none")
@click.option("--json", "as_json", is_flag=True)
def reward(rm_spec, input_path, output_path, prompt, response, task, models, template, batch_size, out, as_json, **kw):
    """Score (prompt, response) pairs with a reward model: a JSONL file, one pair, or a task's answers."""
    from ..errors import UserError, need_file
    modes = sum(x is not None for x in (input_path, task)) + (prompt is not None or response is not None)
    if modes != 1:
        raise UserError("give one of --input FILE, --prompt P --response R, or --task integers|letters")
    if (prompt is None) != (response is None):
        raise UserError("--prompt and --response go together")
    if batch_size < 1:
        raise UserError("--batch-size must be at least 1")
    if input_path is not None:
        need_file(input_path, "--input", "JSON lines with prompt + response, or messages")
    from ..kernels.reward import load_reward_model, score
    load = {k: v for k, v in load_kwargs(kw).items() if k != "fmt"}
    rm = load_reward_model(rm_spec, template=template, **load)
    if prompt is not None:
        s = score(rm, [(prompt, response)])[0]
        emit_json({"reward": s, "reward_model": rm.spec}) if as_json else click.echo(f"{s:.4f}")
        return
    if input_path:
        from ..tasks.randomness.reward import score_file
        output_path = output_path or (input_path[:-6] if input_path.endswith(".jsonl") else input_path) + ".rewards.jsonl"
        res = score_file(rm, input_path, output_path, batch_size=batch_size, log=_log)
        emit_json(res) if as_json else click.echo(
            f"scored {res['scored']} (resumed {res['resumed']}, skipped {res['skipped']} malformed) -> {res['output']}")
        return
    from ..tasks.randomness.reward import task_rewards
    res = task_rewards(rm, task, models, batch_size=batch_size, load=load_kwargs(kw), out=out)
    if as_json:
        emit_json(res)
        return
    labels = list(res["rewards"])
    rows = [["reward", *[f"{res['rewards'][a]:.3f}" for a in labels], "", ""]]
    for m in res["models"]:
        rows.append([m["model"], *[prob(m["probs"][a]) for a in labels], corr(m["pearson"], short=True),
                     corr(m["spearman"], short=True)])
    click.echo(f"{task}: reward of each answer to {res['prompt']!r} ({rm.spec}); rows below: P(answer | valid)")
    click.echo(table(rows, ["", *labels, "pearson", "spearman"]))
    for m in res["models"]:
        if m["spearman"] is None:
            click.echo(f"{m['model']}: pearson and spearman {m.get('correlation_note', CONSTANT_AXIS)}")
    click.echo(f"highest reward: {res['best']}")
