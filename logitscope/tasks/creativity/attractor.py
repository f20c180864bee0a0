"""Attractor states (Mohammadi 2024): perturb a model's own continuation and watch whether it returns.

Per model: its continuation of the prompt (greedy by default, `sample_original` to draw it). Each
edit `LEFT=>RIGHT` is applied at the first whole-word occurrence of LEFT after the continuation's
first sentence (the study: "... in New York City. She was" -> "She was not"), and the text is cut
right after it. Then, with the rest of the original continuation as the reference:

- exact: the teacher-forced log-prob of every token of the original remainder given the perturbed
  prefix, beside the same given the original prefix (one forward each; natural logs in the unit
  record, like every generation record). `attraction_bits` is the mean per-token difference in
  bits (log2 of the probability ratio, perturbed over original prefix, averaged over the
  remainder's tokens; `_first8` and `_after8` over its first 8 tokens and the rest): 0 means the
  edit does not move the model off its own text, -1 that each token became half as likely.
- sampled: `samples` regenerations from the perturbed prefix and as many from the original prefix
  (the control). A regeneration recovers at the first token from which the mean model probability
  of its sampled tokens over a window of 8 is back at the control's mean token probability (the
  study's red-to-green colouring); `recovery` in the unit record holds that token's 0-based
  position (None: not recovered), the summary counts the recovered regenerations and gives the
  median first token counted from 1 (`median_recovery_token`). ROUGE-L F1 of every regeneration
  against the original remainder, perturbed vs control.

The summary is computed from the unit records' stored numbers (`edit_summary`), so a record an
earlier version wrote (which also held a nats `attraction_exact`) is summarised the same way.

The prompt "Grace Hopper was" and the edit "was => was not" are the study's.
"""
from __future__ import annotations

import math
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
    n_new = max(len(rem), 16)
    pert = [g.to_json(lm.tokenizer) for g in generate(lm, ctx_pert, n=samples, max_new_tokens=n_new,
                                                      temperature=temperature, seed=seed)]
    ctrl = [g.to_json(lm.tokenizer) for g in generate(lm, ctx_orig, n=samples, max_new_tokens=n_new,
                                                      temperature=temperature, seed=seed)]
    level = float(np.mean(np.exp(np.concatenate([r["logprob"] for r in ctrl]))))
    rec = [recovery_position(np.exp(r["logprob"]).tolist(), level) for r in pert]
    rouge_p = rouge_l([r["text"] for r in pert], cut["remainder"]) if cut["remainder"].strip() else [0.0] * len(pert)
    rouge_c = rouge_l([r["text"] for r in ctrl], cut["remainder"]) if cut["remainder"].strip() else [0.0] * len(ctrl)
    return {"edit": edit, "matched": True, **cut, "remainder_tokens": len(rem),
            "exact": {"logprob_original_prefix": tf_orig["logprob"], "logprob_perturbed_prefix": tf_pert["logprob"]},
            "control_mean_token_prob": level, "recovery": rec, "rouge_l_perturbed": rouge_p, "rouge_l_control": rouge_c,
            "regenerations": pert, "control": ctrl}


def _mean_bits(diff) -> float | None:
    return float(np.mean(diff) / math.log(2)) if len(diff) else None


def edit_summary(rec: dict) -> dict:
    """One edit's numbers for the summary, the CLI and the page, from its unit record."""
    if not rec["matched"]:
        return {"edit": rec["edit"], "matched": False}
    diff = (np.asarray(rec["exact"]["logprob_perturbed_prefix"], dtype=np.float64)
            - np.asarray(rec["exact"]["logprob_original_prefix"], dtype=np.float64))          # nats per token
    got = [k + 1 for k in rec["recovery"] if k is not None]                                # counted from 1
    return {"edit": rec["edit"], "matched": True, "position": rec["position"],
            "original_prefix": rec["original_prefix"], "perturbed_prefix": rec["perturbed_prefix"],
            "remainder": rec["remainder"], "remainder_tokens": rec["remainder_tokens"],
            "attraction_bits": _mean_bits(diff), "attraction_bits_first8": _mean_bits(diff[:8]),
            "attraction_bits_after8": _mean_bits(diff[8:]),
            "control_mean_token_prob": rec["control_mean_token_prob"],
            "regenerations": len(rec["recovery"]), "recovered": len(got),
            "recovered_share": len(got) / len(rec["recovery"]) if rec["recovery"] else None,
            "median_recovery_token": float(np.median(got)) if got else None,
            "rouge_l_perturbed": rec["rouge_l_perturbed"], "rouge_l_control": rec["rouge_l_control"],
            "mean_rouge_l_perturbed": float(np.mean(rec["rouge_l_perturbed"])),
            "mean_rouge_l_control": float(np.mean(rec["rouge_l_control"]))}


def run_attractor(models, *, prompt=PROMPT, edits=EDITS, samples=10, max_new_tokens=128, sample_original=False,
                  temperature=1.0, seed=0, out="results", load=None) -> list[dict]:
    """Per model: the original continuation, then every edit; resumes per (model, edit)."""
    from ... import progress
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
        reused = sum(f"edit:{e}" in done for e in edits)
        if reused or "original" in done:
            progress.note(f"{lm.spec}: " + ("its continuation and " if "original" in done else "")
                          + progress.reused(reused, len(edits), "edits")
                          + (f", {len(edits) - reused} to run" if reused < len(edits) else ""))
        with rf.open({"provenance": provenance(lm, seed)}) as fh, \
                progress.bar(len(edits), f"{lm.spec}: attractor", "edits", initial=reused) as bar:
            if "original" not in done:
                g = generate(lm, ids, n=1, max_new_tokens=max_new_tokens, temperature=temperature, seed=seed,
                             greedy=not sample_original)[0]
                done["original"] = {"unit": "original", **g.to_json(lm.tokenizer)}
                append(fh, [done["original"]])
            for e in edits:
                if f"edit:{e}" not in done:
                    rec = {"unit": f"edit:{e}", **run_edit(lm, ids, done["original"], e, samples=samples,
                                                           temperature=temperature, seed=seed)}
                    done[rec["unit"]] = rec
                    append(fh, [rec])
                    bar.update(1)
        original = done["original"]
        per_edit = [done[f"edit:{e}"] for e in edits]
        row = {"model": lm.spec, "format": lm.format.name, "prompt": prompt, "prompt_text": lm.tokenizer.decode(ids),
               "original": original["text"], "original_drawn": "sampled" if sample_original else "greedy",
               "original_record": original, "edits": [edit_summary(r) for r in per_edit],
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


def recovery_text(e: dict) -> str:
    """'recovered in 2 of 3 regenerations (median from token 5)' / 'recovered in none of 3 regenerations'."""
    if not e["recovered"]:
        return f"recovered in none of {e['regenerations']} regenerations (not recovered)"
    return (f"recovered in {e['recovered']} of {e['regenerations']} regenerations (median first token "
            f"{e['median_recovery_token']:g}, counted from 1)")


def attraction_text(e: dict) -> str:
    """The attraction in bits per token, over the remainder, its first 8 tokens and the rest."""
    def b(x):
        return "-" if x is None else f"{x:+.3f}"
    return (f"attraction {b(e['attraction_bits'])} bits per token over the original remainder's "
            f"{e['remainder_tokens']} tokens (first 8: {b(e['attraction_bits_first8'])}, after 8: "
            f"{b(e['attraction_bits_after8'])}): mean log2 of each token's probability after the perturbed prefix "
            "over its probability after the original one (0: the edit is ignored)")


def attractor_html(rows, out) -> Path:
    """Per model: the prompt once, its own continuation, then per edit the perturbed prefix once with
    the regenerations from it and the original prefix once with the controls, every token coloured."""
    import html

    from ...report.numbers import prob
    from ...views import tokens as T
    sections = []
    for r in rows:
        body = T.prompt_block(r["prompt_text"])
        body += T.sample_block(r["original_record"], f"the model's own continuation ({r.get('original_drawn', 'greedy')}"
                                                     f"), {T.FINISH.get(r['original_record']['finish'], '')}")
        for rec, e in zip(r["records"], r["edits"]):
            body += f"<h3>edit {html.escape(repr(e['edit']))}</h3>"
            if not e["matched"]:
                body += "<p>not found after the first sentence of the continuation: nothing to perturb</p>"
                continue
            body += (f"<p>{html.escape(attraction_text(e))}.<br>{html.escape(recovery_text(e))}: the first token from "
                     f"which 8 tokens' mean probability is back at the controls' mean token probability "
                     f"({prob(e['control_mean_token_prob'])}).<br>ROUGE-L F1 against the original remainder: "
                     f"{e['mean_rouge_l_perturbed']:.3f} perturbed, {e['mean_rouge_l_control']:.3f} control.</p>")
            body += T.prompt_block(rec["perturbed_prefix"], "the continuation up to the edit, perturbed (shown once; "
                                                            "the regenerations continue it)")
            for g, k in zip(rec["regenerations"], rec["recovery"]):
                back = f"recovered from token {k + 1}" if k is not None else "not recovered"
                body += T.sample_block(g, f"{T.finish_label(g, 'regeneration')}; {back}")
            shown = rec["control"][:3]
            body += T.prompt_block(rec["original_prefix"], f"the continuation up to the edit, unperturbed (shown once; "
                                                           f"the controls continue it: {len(shown)} of "
                                                           f"{len(rec['control'])} shown)")
            body += "".join(T.sample_block(g, T.finish_label(g, "control")) for g in shown)
        sections.append((r["model"], f"format {r['format']}", body))
    page = T.page("Attractor states", sections, f"prompt {rows[0]['prompt']!r}; attraction in bits per token, "
                                                "entropies in bits, probabilities under the model (T = 1)")
    return T.write(Path(out) / "attractor" / "attractor.html", page)
