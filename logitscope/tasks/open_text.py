"""Open-ended generation (Mohammadi 2024): token entropy of free text, and the shared step of every
creativity task: sample N continuations of a prompt into a resumable result file.

`probe entropy` generates `samples` continuations of the study's prompt per model at temperature 1
and reports, per generated position, the mean full-vocabulary and top-5 entropy in bits with a
95% band over samples, their means over all tokens, and the share of near-deterministic tokens
(top-5 entropy below 0.1 bits). Each model is prompted in its own format (base: raw text to
continue; aligned: its chat template) unless `--format` says otherwise.

Prompt: "Steve is the CEO of a startup company" is the study's (Mohammadi 2024, n_predict 64).
"""
from __future__ import annotations

import time
from pathlib import Path

from ..errors import UserError

PROMPT = "Steve is the CEO of a startup company"
SOURCE = "prompt from Mohammadi 2024 (token entropy experiment)"


def check_args(*, samples: int, max_new_tokens: int, temperature=1.0, top_p=1.0, prompt: str | None = None,
               min_samples: int = 1) -> None:
    """One clear line for settings no generation task can run with."""
    from ..kernels.sampling import check_settings
    check_settings(temperature, top_p)
    if samples < min_samples:
        raise UserError(f"--samples must be at least {min_samples}"
                        + (" (diversity needs a pair of texts)" if min_samples > 1 else ""))
    if max_new_tokens < 1:
        raise UserError(f"--max-new-tokens must be at least 1 (got {max_new_tokens})")
    if prompt is not None and not prompt.strip():
        raise UserError("empty prompt")


def check_lm(lm) -> None:
    if getattr(lm, "is_oracle", False):
        raise UserError("the uniform oracle has no vocabulary to generate from; pass a model")


def generation_units(lm, rf, prompt_ids: list[int], samples: int, *, max_new_tokens: int, temperature=1.0,
                     top_p=1.0, seed=0, stop=None, greedy=False, extra=None, log=None) -> list[dict]:
    """Samples 0..samples-1 of continuations of `prompt_ids` as generation records, generated where
    the result file does not have them yet (written a batch at a time, so a kill loses one batch)."""
    from ..kernels.generate import default_batch, generate
    from .results import append, provenance
    done = rf.done("index")
    todo = [i for i in range(samples) if i not in done]
    if todo:
        batch = default_batch(lm, len(prompt_ids) + max_new_tokens)
        with rf.open({"provenance": provenance(lm, seed), **(extra or {})}) as fh:
            for s in range(0, len(todo), batch):
                chunk = todo[s:s + batch]
                got = generate(lm, prompt_ids, indices=chunk, max_new_tokens=max_new_tokens, temperature=temperature,
                               top_p=top_p, seed=seed, stop=stop, greedy=greedy, batch_size=batch)
                recs = [g.to_json(lm.tokenizer) for g in got]
                append(fh, recs)
                done.update({r["index"]: r for r in recs})
                if log:
                    log(f"{lm.spec}: {len(done)}/{samples} samples")
    return [done[i] for i in range(samples)]


def generated(spec, task: str, prompt, *, samples, max_new_tokens, temperature, top_p, seed, out, load, source,
              stop=None, config=None, log=None):
    """One model's `samples` continuations of `prompt` (a string, or a function of the LM that gives
    one) in the task's resumable result file: (lm, result file, prompt ids, records)."""
    from .results import ResultFile, as_lm, model_config
    lm = as_lm(spec, load)
    check_lm(lm)
    text = prompt(lm) if callable(prompt) else prompt
    ids = lm.encode(text)
    cfg = {"task": task, "prompt": text, "max_new_tokens": max_new_tokens, "temperature": temperature,
           "top_p": top_p, "seed": seed, **(config or {}), **model_config(lm)}
    rf = ResultFile(out, task, lm.spec, cfg)
    recs = generation_units(lm, rf, ids, samples, max_new_tokens=max_new_tokens, temperature=temperature,
                            top_p=top_p, seed=seed, stop=stop, extra={"source": source}, log=log)
    return lm, rf, ids, recs


def run_entropy(models, *, prompt=PROMPT, samples=20, max_new_tokens=64, temperature=1.0, top_p=1.0, seed=0,
                out="results", load=None, log=None) -> tuple[list[dict], dict]:
    """Per model: generate, then the entropy summary. Returns (summary rows, {model: records})."""
    from ..probes.tokens import entropy_summary
    from .results import write_summary

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
    """The PNG (entropy by position) and the HTML page (every token coloured, top 5 on hover)."""
    from ..report import tokens_html
    from ..report.plots import entropy_curves
    folder = Path(out) / "entropy"
    fig = entropy_curves(rows, folder / "entropy.png", f"token entropy: {rows[0]['prompt']!r}")
    sections = []
    for r in rows:
        prompt_text, recs = texts[r["model"]]
        body = "".join(tokens_html.sample_block(rec, f"sample {rec['index']} ({rec['finish']})", prompt_text)
                       for rec in recs)
        sections.append((r["model"], f"format {r['format']}; mean top-5 entropy {r['mean_top5_entropy_bits']:.3f} "
                                     f"bits; {100 * r['low_entropy_share']:.0f}% of tokens below 0.1 bits", body))
    page = tokens_html.page("Token entropy of open-ended generations", sections,
                            f"prompt {rows[0]['prompt']!r}, T={rows[0]['temperature']:g}, "
                            f"top-p={rows[0]['top_p']:g}, seed {rows[0]['seed']}")
    return [fig, tokens_html.write(folder / "tokens.html", page)]
