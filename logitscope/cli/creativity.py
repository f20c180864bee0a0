"""`probe entropy`, `probe attractor`: open-ended generation (Mohammadi 2024)."""
from __future__ import annotations

import click

from .common import emit_json, load_kwargs, load_options, table

DEFAULT_MODELS = ("embedded:base", "embedded:aligned")


def _log(msg):
    click.echo(msg, err=True)


def _f(x, spec):
    return "-" if x is None else format(x, spec)


def _show(paths):
    for p in paths:
        click.echo(p if isinstance(p, str) else f"wrote {p}")


@click.command()
@click.option("--model", "-m", "models", multiple=True, help="repeatable; default: embedded:base and embedded:aligned")
@click.option("--prompt", default="Steve is the CEO of a startup company", show_default=True)
@click.option("--samples", default=20, show_default=True, help="continuations per model")
@click.option("--max-new-tokens", default=64, show_default=True)
@click.option("--temperature", default=1.0, show_default=True)
@click.option("--top-p", default=1.0, show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option("--out", default="results", show_default=True, help="result directory (rerun to resume)")
@click.option("--json", "as_json", is_flag=True, help="print the summary rows as JSON")
@load_options
def entropy(models, prompt, samples, max_new_tokens, temperature, top_p, seed, out, as_json, **kw):
    """Per-token entropy of open-ended generations: full vocabulary and top 5 (bits), by position."""
    from ..tasks.open_text import entropy_outputs, run_entropy
    rows, texts = run_entropy(models or DEFAULT_MODELS, prompt=prompt, samples=samples, max_new_tokens=max_new_tokens,
                              temperature=temperature, top_p=top_p, seed=seed, out=out, load=load_kwargs(kw), log=_log)
    paths = entropy_outputs(rows, texts, out)
    if as_json:
        emit_json([{k: v for k, v in r.items() if not k.endswith("_by_position")} for r in rows])
        return
    click.echo(f"{prompt!r}: {samples} samples x up to {max_new_tokens} tokens, T={temperature:g}, top-p={top_p:g}; "
               "entropy in bits (top 5 renormalised: 0 .. 2.32)")
    click.echo(table([[r["model"], r["format"], r["tokens"], _f(r["mean_top5_entropy_bits"], ".3f"),
                       "[" + ", ".join(_f(x, ".3f") for x in (r["top5_entropy_ci95"] or [None, None])) + "]",
                       _f(r["mean_entropy_bits"], ".3f"), _f(100 * r["low_entropy_share"], ".1f"),
                       _f(r["mean_length"], ".1f")] for r in rows],
                     ["model", "format", "tokens", "top-5 H", "95% CI", "full H", "% < 0.1 bit", "length"]))
    for r in rows:
        click.echo(f"{r['model']}: e.g. {r['examples'][0].strip()[:90]!r}")
    _show(paths)


@click.command()
@click.option("--model", "-m", "models", multiple=True, help="repeatable; default: embedded:base and embedded:aligned")
@click.option("--prompt", default="Grace Hopper was", show_default=True)
@click.option("--edit", "edits", multiple=True, help='LEFT=>RIGHT, repeatable (default: "was=>was not")')
@click.option("--samples", default=10, show_default=True, help="regenerations per edit (and as many controls)")
@click.option("--max-new-tokens", default=128, show_default=True)
@click.option("--sample", "sample_original", is_flag=True, help="draw the original continuation (default: greedy)")
@click.option("--temperature", default=1.0, show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option("--out", default="results", show_default=True, help="result directory (rerun to resume)")
@click.option("--json", "as_json", is_flag=True, help="print the summary rows as JSON")
@load_options
def attractor(models, prompt, edits, samples, max_new_tokens, sample_original, temperature, seed, out, as_json, **kw):
    """Attractor states: perturb each model's continuation ("was" -> "was not") and measure how
    strongly it returns to its original text (exact log-probs, recovery, ROUGE-L)."""
    from ..tasks.attractor import attractor_html, run_attractor
    rows = run_attractor(models or DEFAULT_MODELS, prompt=prompt, edits=edits, samples=samples,
                         max_new_tokens=max_new_tokens, sample_original=sample_original, temperature=temperature,
                         seed=seed, out=out, load=load_kwargs(kw), log=_log)
    page = attractor_html(rows, out)
    if as_json:
        emit_json([{k: v for k, v in r.items() if k not in ("records", "original_record")} for r in rows])
        return
    body = []
    for r in rows:
        for e in r["edits"]:
            if not e["matched"]:
                body.append([r["model"], e["edit"], "no match", "", "", "", "", ""])
                continue
            body.append([r["model"], e["edit"], _f(e["attraction_exact"], "+.3f"), _f(e["attraction_exact_first8"], "+.3f"),
                         _f(e["attraction_exact_after8"], "+.3f"), _f(100 * e["recovered_share"], ".0f"),
                         _f(e["median_recovery"], ".0f"),
                         f"{e['mean_rouge_l_perturbed']:.3f} / {e['mean_rouge_l_control']:.3f}"])
    click.echo(f"{prompt!r}: each model's own continuation perturbed after its first sentence; {samples} regenerations")
    click.echo("attraction = mean log-prob per token of the original remainder, perturbed minus original prefix "
               "(0: the edit is ignored); recovered = % of regenerations whose 8-token mean probability returns "
               "to the unperturbed level")
    click.echo(table(body, ["model", "edit", "attraction", "first 8", "after 8", "recovered %", "at token",
                            "ROUGE-L pert / ctrl"]))
    for r in rows:
        click.echo(f"{r['model']}: {r['original'].strip()[:110]!r}")
    click.echo(f"wrote {page}")
