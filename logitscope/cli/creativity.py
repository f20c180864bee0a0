"""`probe entropy`, `probe attractor`: open-ended generation (Mohammadi 2024)."""
from __future__ import annotations

import click

from ..progress import note as _log   # a note on stderr (nothing with probe --quiet)
from ..limits import COUNT, SEED, TEMPERATURE, TOKENS, TOP_P
from .common import emit_json, load_kwargs, load_options, ranged, table

DEFAULT_MODELS = ("embedded:base", "embedded:aligned")


def _f(x, spec):
    return "-" if x is None else format(x, spec)


def _show(paths):
    for p in paths:
        click.echo(p if isinstance(p, str) else f"wrote {p}")


def generation_options(prompt: str | None, samples: int, max_new_tokens: int, top_p: bool = True):
    """The options every generation command shares: --model --prompt --samples --max-new-tokens
    --temperature [--top-p] --seed --out --json, and the load options."""
    def deco(f):
        f = load_options(f)
        f = click.option("--json", "as_json", is_flag=True, help="print the summary rows as JSON")(f)
        f = click.option("--out", default="results", show_default=True, help="result directory (rerun to resume)")(f)
        f = click.option("--seed", default=0, show_default=True, type=ranged(SEED))(f)
        if top_p:
            f = click.option("--top-p", default=1.0, show_default=True, type=ranged(TOP_P))(f)
        f = click.option("--temperature", default=1.0, show_default=True, type=ranged(TEMPERATURE))(f)
        f = click.option("--max-new-tokens", default=max_new_tokens, show_default=True, type=ranged(TOKENS))(f)
        f = click.option("--samples", default=samples, show_default=True, type=ranged(COUNT), help="texts drawn per model")(f)
        if prompt is not None:
            f = click.option("--prompt", default=prompt, show_default=True)(f)
        return click.option("--model", "-m", "models", multiple=True,
                            help="repeatable; default: embedded:base and embedded:aligned")(f)
    return deco


@click.command()
@generation_options("Steve is the CEO of a startup company", 20, 64)
def entropy(models, prompt, samples, max_new_tokens, temperature, top_p, seed, out, as_json, **kw):
    """Per-token entropy of open-ended generations: full vocabulary and top 5 (bits), by position."""
    from ..tasks.creativity.entropy import entropy_outputs, run_entropy
    rows, texts = run_entropy(models or DEFAULT_MODELS, prompt=prompt, samples=samples, max_new_tokens=max_new_tokens,
                              temperature=temperature, top_p=top_p, seed=seed, out=out, load=load_kwargs(kw), log=_log)
    paths = entropy_outputs(rows, texts, out)
    if as_json:
        emit_json([{k: v for k, v in r.items() if not k.endswith("_by_position")} for r in rows])
        return
    click.echo(f"{prompt!r}: {samples} samples x up to {max_new_tokens} tokens, T={temperature:g}, top-p={top_p:g}; "
               "entropy in bits (top 5 renormalised: 0 .. 2.32); 95% CI: percentile bootstrap over texts")
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
@click.option("--samples", default=10, show_default=True, type=ranged(COUNT),
              help="texts drawn per model and edit: regenerations after the edit (and as many controls)")
@click.option("--max-new-tokens", default=128, show_default=True, type=ranged(TOKENS))
@click.option("--sample", "sample_original", is_flag=True, help="draw the original continuation (default: greedy)")
@click.option("--temperature", default=1.0, show_default=True, type=ranged(TEMPERATURE))
@click.option("--seed", default=0, show_default=True, type=ranged(SEED))
@click.option("--out", default="results", show_default=True, help="result directory (rerun to resume)")
@click.option("--json", "as_json", is_flag=True, help="print the summary rows as JSON")
@load_options
def attractor(models, prompt, edits, samples, max_new_tokens, sample_original, temperature, seed, out, as_json, **kw):
    """Attractor states: perturb each model's continuation ("was" -> "was not") and measure how
    strongly it returns to its original text (exact log-probs, recovery, ROUGE-L)."""
    from ..tasks.creativity.attractor import attractor_html, run_attractor
    rows = run_attractor(models or DEFAULT_MODELS, prompt=prompt, edits=edits, samples=samples,
                         max_new_tokens=max_new_tokens, sample_original=sample_original, temperature=temperature,
                         seed=seed, out=out, load=load_kwargs(kw))
    page = attractor_html(rows, out)
    if as_json:
        emit_json([{k: v for k, v in r.items() if k not in ("records", "original_record")} for r in rows])
        return
    from ..report.sections_creative import UNMATCHED_CELLS, unmatched_note
    body, unmatched = [], []
    for r in rows:
        for e in r["edits"]:
            if not e["matched"]:
                body.append([r["model"], e["edit"], *UNMATCHED_CELLS])
                unmatched.append(unmatched_note(r["model"], e["edit"]))
                continue
            body.append([r["model"], e["edit"], _f(e["attraction_bits"], "+.3f"), _f(e["attraction_bits_first8"], "+.3f"),
                         _f(e["attraction_bits_after8"], "+.3f"), f"{e['recovered']} of {e['regenerations']}",
                         _f(e["median_recovery_token"], "g") if e["recovered"] else "not recovered",
                         f"{e['mean_rouge_l_perturbed']:.3f} / {e['mean_rouge_l_control']:.3f}"])
    click.echo(f"{prompt!r}: each model's own continuation perturbed after its first sentence; {samples} regenerations")
    click.echo("attraction = mean over the original remainder's tokens of log2 p(token | perturbed prefix) - "
               "log2 p(token | original prefix), in bits per token (0: the edit is ignored); recovered = "
               "regenerations whose 8-token mean probability returns to the controls' level, from the median token "
               "shown (counted from 1)")
    click.echo(table(body, ["model", "edit", "attraction (bits/token)", "first 8 (bits/token)", "after 8 (bits/token)",
                            "recovered", "median token", "ROUGE-L pert / ctrl"]))
    for line in unmatched:
        click.echo(line)
    for r in rows:
        click.echo(f"{r['model']}: {r['original'].strip()[:110]!r}")
    click.echo(f"wrote {page}")


@click.command()
@generation_options("Grace Hopper was", 100, 128)
def diversity(models, prompt, samples, max_new_tokens, temperature, top_p, seed, out, as_json, **kw):
    """Semantic diversity of open-ended generations: embedding and TF-IDF similarity, distinct-n,
    compression, k-means clusters and a 2-D map (Mohammadi 2024)."""
    from ..tasks.creativity.diversity import diversity_map, run_diversity
    rows = run_diversity(models or DEFAULT_MODELS, prompt=prompt, samples=samples, max_new_tokens=max_new_tokens,
                         temperature=temperature, top_p=top_p, seed=seed, out=out, load=load_kwargs(kw), log=_log)
    fig = diversity_map(rows, out, seed)
    rows = [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]
    if as_json:
        emit_json(rows)
        return
    click.echo(f"{prompt!r}: {samples} samples x up to {max_new_tokens} tokens per model; similarity: lower = more "
               "diverse; compression: higher = more repetitive")
    click.echo(table([[r["model"], r["format"], f"{r['embedding_cosine']['mean']:.3f}",
                       "[" + ", ".join(f"{x:.3f}" for x in r["embedding_cosine"]["ci95"]) + "]",
                       _f(r["tfidf_cosine"], ".3f"), *[_f(r["distinct"][n], ".3f") for n in ("1", "2", "3")],
                       _f(r["compression_ratio"], ".2f"), r["clusters"]["k"],
                       " ".join(str(s) for s in r["clusters"]["sizes"])] for r in rows],
                     ["model", "format", "embedding cos", "95% CI", "TF-IDF cos", "distinct-1", "distinct-2",
                      "distinct-3", "gzip ratio", "k", "cluster sizes"]))
    for r in rows:
        for i, ex in enumerate(r["clusters"]["examples"]):
            click.echo(f"{r['model']} cluster {i + 1} ({r['clusters']['sizes'][i]}): {ex[:100]!r}")
    _show([fig])


@click.command()
@generation_options(None, 100, 200)
def personas(models, samples, max_new_tokens, temperature, top_p, seed, out, as_json, **kw):
    """Customer personas with a product review (Mohammadi 2024): names, gender, age, nationality,
    ethnicity, Myers-Briggs type; how varied each field is, review sentiment and clusters."""
    from pathlib import Path

    from ..report.persona_plots import name_clouds, persona_panels
    from ..tasks.creativity.personas import review_map, run_personas
    rows = run_personas(models or DEFAULT_MODELS, samples=samples, max_new_tokens=max_new_tokens,
                        temperature=temperature, top_p=top_p, seed=seed, out=out, load=load_kwargs(kw), log=_log)
    import json

    from ..report.outputs import persona_figures
    from ..report.sections_personas import age_cell, field_cell
    where = persona_figures([r["results"] for r in rows], rows[0]["samples"])
    figs = [persona_panels(rows, where["panels"], "customer personas"), name_clouds(rows, where["names"]),
            review_map(rows, where["reviews"], seed)]
    where["manifest"].write_text(json.dumps({"results": [r["results"] for r in rows], "models": [r["model"] for r in rows],
                                             "samples": [r["samples"] for r in rows],
                                             "figures": {k: Path(v).name for k, v in where.items() if k != "manifest"
                                                         and Path(v).exists()}}))
    rows = [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]
    if as_json:
        emit_json(rows)
        return
    click.echo(f"{samples} personas per model, each generated on its own; '<field> H': entropy of the field's valid "
               "values in bits (higher = more varied), distinct values in brackets; 'none valid' where no persona "
               "gave one")
    fields = ["first_name", "last_name", "gender", "age", "nationality", "ethnicity", "mbti"]
    click.echo(table([[r["model"], r["framing"], r["samples"] - r["unparseable"],
                       *[field_cell(r["fields"][f]) for f in fields], age_cell(r), f"{r['mbti_types']} of 16",
                       _f(r["review_words_mean"], ".0f"), _f(r["vader_mean"], "+.2f")] for r in rows],
                     ["model", "framing", "parsed", *[f"{f.replace('_name', '')} H" for f in fields],
                      "age mean +- sd", "MBTI types", "review words", "VADER"]))
    for r in rows:
        tops = "; ".join(f"{f}: " + ", ".join(f"{v} {c}" for v, c in r["fields"][f]["top"][:3])
                         for f in ("first_name", "last_name", "nationality"))
        missing = ", ".join(f"{f} {n}" for f, n in r["missing"].items() if n)
        invalid = ", ".join(f"{f} {n}" for f, n in r["invalid"].items() if n)
        click.echo(f"{r['model']}: {tops}" + (f"; missing: {missing}" if missing else "")
                   + (f"; invalid: {invalid} (texts in the summary's invalid_values)" if invalid else ""))
    _show(figs)
