"""Token entropy of open-ended text (Mohammadi 2024).

`probe entropy` generates `samples` continuations of the study's prompt per model at temperature 1
and reports, per generated position, the mean full-vocabulary and top-5 entropy in bits with a
95% band over samples, their means over all tokens, and the share of near-deterministic tokens
(top-5 entropy below 0.1 bits). Each model is prompted in its own format (base: raw text to
continue; aligned: its chat template) unless `--format` says otherwise.

Prompt: "Steve is the CEO of a startup company" is the study's (Mohammadi 2024, n_predict 64).
"""
from __future__ import annotations

import time

from .open_text import check_args, generated

PROMPT = "Steve is the CEO of a startup company"
SOURCE = "prompt from Mohammadi 2024 (token entropy experiment)"


def run_entropy(models, *, prompt=PROMPT, samples=20, max_new_tokens=64, temperature=1.0, top_p=1.0, seed=0,
                out="results", load=None, log=None) -> tuple[list[dict], dict]:
    """Per model: generate, then the entropy summary. Returns (summary rows, {model: records})."""
    from ...probes.tokens import entropy_summary
    from ..results import write_summary

    check_args(samples=samples, max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, prompt=prompt)
    rows, texts = [], {}
    for spec in models:
        t0 = time.perf_counter()
        lm, rf, ids, recs = generated(spec, "entropy", prompt, samples=samples, max_new_tokens=max_new_tokens,
                                      temperature=temperature, top_p=top_p, seed=seed, out=out, load=load,
                                      source=SOURCE, log=log)
        row = {"model": lm.spec, "format": lm.format.name, "prompt": prompt, "prompt_text": lm.tokenizer.decode(ids),
               "temperature": temperature, "top_p": top_p, "seed": seed, **entropy_summary(recs),
               "examples": [r["text"] for r in recs[:3]], "seconds": round(time.perf_counter() - t0, 1),
               "results": str(rf.path)}
        with rf.open({}) as fh:
            write_summary(fh, row)
        rows.append(row)
        texts[lm.spec] = (row["prompt_text"], recs)
    return rows, texts


def entropy_outputs(rows, texts, out) -> list:
    """This run's PNG (entropy by position) and one HTML page per model (every token coloured, top 5
    on hover), named by the run (`report.outputs`: entropy/<hash>-n<N>.png, <model>-<hash>-n<N>.tokens.html)."""
    from ...report import outputs
    from ...views import tokens as tokens_html
    from ...report.plots import entropy_curves
    fig = entropy_curves(rows, outputs.entropy_png([r["results"] for r in rows], rows[0]["samples"]),
                         f"token entropy: {rows[0]['prompt']!r}")
    pages = []
    for r in rows:
        prompt_text, recs = texts[r["model"]]
        body = tokens_html.samples_body(prompt_text, recs)
        section = (r["model"], f"format {r['format']}; mean top-5 entropy {r['mean_top5_entropy_bits']:.3f} "
                               f"bits per token; {100 * r['low_entropy_share']:.0f}% of tokens below 0.1 bits", body)
        page = tokens_html.page("Token entropy", [section],
                                f"prompt {r['prompt']!r}, {r['samples']} samples, T={r['temperature']:g}, "
                                f"top-p={r['top_p']:g}, seed {r['seed']}")
        pages.append(tokens_html.write(outputs.tokens_page(r["results"], r["samples"]), page))
    return [fig, *pages]
