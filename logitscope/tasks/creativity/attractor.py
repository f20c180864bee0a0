"""Attractor states (Mohammadi 2024): perturb a model's own continuation and watch whether it returns.

Per model: its continuation of the prompt (greedy by default, `sample_original` to draw it). Each
edit `LEFT=>RIGHT` is applied at the first whole-word occurrence of LEFT after the continuation's
first sentence (the study: "... in New York City. She was" -> "She was not"), and the text is cut
right after it. Then, with the rest of the original continuation as the reference:

- exact: the teacher-forced log-prob of every token of the original remainder given the perturbed
  prefix, beside the same given the original prefix (one forward each). `attraction_exact` is the
  mean per-token difference (nats): 0 means the edit does not move the model off its own text.
- sampled: `samples` regenerations from the perturbed prefix and as many from the original prefix
  (the control). `recovery` of a regeneration is the first position from which the mean model
  probability of its sampled tokens over a window of 8 is back at the control's mean token
  probability (the study's red-to-green colouring); ROUGE-L F1 of every regeneration against the
  original remainder, perturbed vs control.

The prompt "Grace Hopper was" and the edit "was => was not" are the study's.
"""
from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np

from ...errors import UserError

PROMPT = "Grace Hopper was"
EDITS = ("was=>was not",)
SENTENCE_END = re.compile(r"[.!?](?=\s|$)|\n")


def parse_edit(spec: str) -> tuple[str, str]:
    left, sep, right = spec.partition("=>")
    if not sep or not left.strip():
        raise UserError(f"an edit is LEFT=>RIGHT, e.g. \"was=>was not\" (got {spec!r})")
    return left.strip(), right.strip()


def locate(text: str, left: str) -> int | None:
    """Where `left` first occurs as a whole word after the first sentence of `text`, else None."""
    end = SENTENCE_END.search(text)
    start = end.end() if end else len(text)
    m = re.compile(r"(?<!\w)" + re.escape(left) + r"(?!\w)").search(text, start)
    return m.start() if m else None


def perturb(text: str, edit: str) -> dict | None:
    """{original_prefix, perturbed_prefix, remainder, position} or None when LEFT is not there."""
    left, right = parse_edit(edit)
    at = locate(text, left)
    if at is None:
        return None
    return {"position": at, "original_prefix": text[:at + len(left)], "perturbed_prefix": text[:at] + right,
            "remainder": text[at + len(left):]}


def _tokens(lm, text: str) -> list[int]:
    return list(lm.tokenizer(text, add_special_tokens=False)["input_ids"])


def run_edit(lm, prompt_ids, original: dict, edit: str, *, samples, temperature, seed) -> dict:
    """Everything one edit measures on one model (texts included)."""
    from ...kernels.engine.generate import generate, teacher_forced
    from ...probes.tokens import recovery_position, rouge_l
    cut = perturb(original["text"], edit)
    if cut is None:
        return {"edit": edit, "matched": False}
    ctx_orig = prompt_ids + _tokens(lm, cut["original_prefix"])
    ctx_pert = prompt_ids + _tokens(lm, cut["perturbed_prefix"])
    rem = _tokens(lm, cut["remainder"])
    tf_orig, tf_pert = teacher_forced(lm, ctx_orig, rem), teacher_forced(lm, ctx_pert, rem)
    diff = np.asarray(tf_pert["logprob"]) - np.asarray(tf_orig["logprob"])
    n_new = max(len(rem), 16)
    pert = [g.to_json(lm.tokenizer) for g in generate(lm, ctx_pert, n=samples, max_new_tokens=n_new,
                                                      temperature=temperature, seed=seed)]
    ctrl = [g.to_json(lm.tokenizer) for g in generate(lm, ctx_orig, n=samples, max_new_tokens=n_new,
                                                      temperature=temperature, seed=seed)]
    level = float(np.mean(np.exp(np.concatenate([r["logprob"] for r in ctrl]))))
    rec = [recovery_position(np.exp(r["logprob"]).tolist(), level) for r in pert]
    got = [k for k in rec if k is not None]
    rouge_p = rouge_l([r["text"] for r in pert], cut["remainder"]) if cut["remainder"].strip() else [0.0] * len(pert)
    rouge_c = rouge_l([r["text"] for r in ctrl], cut["remainder"]) if cut["remainder"].strip() else [0.0] * len(ctrl)
    return {"edit": edit, "matched": True, **cut, "remainder_tokens": len(rem),
            "exact": {"logprob_original_prefix": tf_orig["logprob"], "logprob_perturbed_prefix": tf_pert["logprob"],
                      "mean_logprob_original_prefix": float(np.mean(tf_orig["logprob"])) if rem else None,
                      "mean_logprob_perturbed_prefix": float(np.mean(tf_pert["logprob"])) if rem else None},
            "attraction_exact": float(diff.mean()) if rem else None,
            "attraction_exact_first8": float(diff[:8].mean()) if rem else None,
            "attraction_exact_after8": float(diff[8:].mean()) if len(rem) > 8 else None,
            "control_mean_token_prob": level, "recovery": rec,
            "recovered_share": len(got) / len(rec) if rec else None,
            "median_recovery": float(np.median(got)) if got else None,
            "rouge_l_perturbed": rouge_p, "rouge_l_control": rouge_c,
            "mean_rouge_l_perturbed": float(np.mean(rouge_p)), "mean_rouge_l_control": float(np.mean(rouge_c)),
            "regenerations": pert, "control": ctrl}


def run_attractor(models, *, prompt=PROMPT, edits=EDITS, samples=10, max_new_tokens=128, sample_original=False,
                  temperature=1.0, seed=0, out="results", load=None, log=None) -> list[dict]:
    """Per model: the original continuation, then every edit; resumes per (model, edit)."""
    from ...kernels.engine.generate import generate
    from .open_text import check_args, check_lm
    from ..results import ResultFile, append, as_lm, model_config, provenance, write_summary

    check_args(samples=samples, max_new_tokens=max_new_tokens, temperature=temperature, prompt=prompt)
    edits = list(edits) or list(EDITS)
    for e in edits:
        parse_edit(e)
    rows = []
    for spec in models:
        lm = as_lm(spec, load)
        check_lm(lm)
        t0 = time.perf_counter()
        ids = lm.encode(prompt)
        config = {"task": "attractor", "prompt": prompt, "samples": samples, "max_new_tokens": max_new_tokens,
                  "sample_original": sample_original, "temperature": temperature, "seed": seed, **model_config(lm)}
        rf = ResultFile(out, "attractor", lm.spec, config)
        done = rf.done("unit")
        with rf.open({"provenance": provenance(lm, seed)}) as fh:
            if "original" not in done:
                g = generate(lm, ids, n=1, max_new_tokens=max_new_tokens, temperature=temperature, seed=seed,
                             greedy=not sample_original)[0]
                done["original"] = {"unit": "original", **g.to_json(lm.tokenizer)}
                append(fh, [done["original"]])
            for e in edits:
                if f"edit:{e}" not in done:
                    if log:
                        log(f"{lm.spec}: edit {e!r}")
                    rec = {"unit": f"edit:{e}", **run_edit(lm, ids, done["original"], e, samples=samples,
                                                           temperature=temperature, seed=seed)}
                    done[rec["unit"]] = rec
                    append(fh, [rec])
        original = done["original"]
        per_edit = [done[f"edit:{e}"] for e in edits]
        row = {"model": lm.spec, "format": lm.format.name, "prompt": prompt, "prompt_text": lm.tokenizer.decode(ids),
               "original": original["text"], "original_record": original,
               "edits": [{k: v for k, v in r.items() if k not in ("regenerations", "control", "exact", "unit")}
                         for r in per_edit],
               "seconds": round(time.perf_counter() - t0, 1), "results": str(rf.path)}
        with rf.open({}) as fh:
            write_summary(fh, {k: v for k, v in row.items() if k != "original_record"})
        row["records"] = per_edit
        rows.append(row)
    if not any(e["matched"] for r in rows for e in r["edits"]):
        lines = "; ".join(f"{r['model']}: {r['original'][:80]!r}" for r in rows)
        raise UserError(f"no edit matched after the first sentence of any continuation ({lines}); choose --edit "
                        "from words these continuations use")
    return rows


def attractor_html(rows, out) -> Path:
    """Original continuation, then per edit the perturbed regenerations and the controls, coloured."""
    from ...report import tokens_html
    sections = []
    for r in rows:
        body = tokens_html.sample_block(r["original_record"], "original continuation", r["prompt_text"])
        for rec in r["records"]:
            if not rec["matched"]:
                body += f"<p>edit {rec['edit']!r}: no match after the first sentence</p>"
                continue
            body += (f"<p><b>edit {rec['edit']!r}</b>: exact attraction {rec['attraction_exact']:+.3f} nats/token; "
                     f"recovered {100 * rec['recovered_share']:.0f}% (median position {rec['median_recovery']}); "
                     f"ROUGE-L {rec['mean_rouge_l_perturbed']:.3f} perturbed vs {rec['mean_rouge_l_control']:.3f} "
                     f"control</p>")
            for g, k in zip(rec["regenerations"], rec["recovery"]):
                body += tokens_html.sample_block(g, f"perturbed, sample {g['index']}: recovery at {k}",
                                                 rec["perturbed_prefix"])
            for g in rec["control"][:3]:
                body += tokens_html.sample_block(g, f"control (original prefix), sample {g['index']}",
                                                 rec["original_prefix"])
        sections.append((r["model"], f"format {r['format']}", body))
    page = tokens_html.page("Attractor states", sections, f"prompt {rows[0]['prompt']!r}")
    return tokens_html.write(Path(out) / "attractor" / "attractor.html", page)
