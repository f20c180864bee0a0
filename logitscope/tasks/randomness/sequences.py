"""Sequences of ten random integers 0-10 (West & Potts 2025: Table 1, Figures 3 and 6).

The model writes each sequence itself: rows of a KV-cache session sample at the given temperature
and top-p with one seeded generator per sequence (so a sequence does not depend on batch size),
until a newline after the first non-space text, EOS, or 48 tokens. A sequence is parsed as the
integers in that text: fewer than ten, or any of the first ten outside 0..10, makes it
unparseable (counted and reported, as the study discarded them). Measures: repeated numbers per
sequence (a uniform sequence has mode 3), the MSE of the repeat histogram against 10,000 seeded
uniform sequences, the value x position counts (Figure 6) and the pooled chi-square of all
numbers against uniform.

The instruction is ours, in the shape of the study's integer instruction.
"""
from __future__ import annotations

import re
import time

import numpy as np

from ...errors import UserError

PROMPT = ("Generate a sequence of 10 random integers, each uniformly between 0 and 10 (inclusive). "
          "Write them on one line, separated by commas.")
INFIX = "Sequence:"
LENGTH, VALUES = 10, list(range(11))
MAX_NEW_TOKENS = 48
CHUNK = 64


def parse(text: str) -> list[int] | None:
    nums = [int(x) for x in re.findall(r"-?\d+", text)]
    if len(nums) < LENGTH or any(not 0 <= x <= 10 for x in nums[:LENGTH]):
        return None
    return nums[:LENGTH]


def measure(seqs: list[list[int]], n_total: int) -> dict:
    from ...probes.stats import (chi2_log10_sf, chi2_uniform, mse, position_counts, repeat_histogram,
                                 uniform_repeat_histogram)
    hist = repeat_histogram(seqs, LENGTH)
    ref = uniform_repeat_histogram(len(VALUES), LENGTH)
    pooled = np.bincount(np.array(seqs, dtype=np.int64).ravel(), minlength=len(VALUES)) if seqs else np.zeros(len(VALUES))
    chi2, pv = chi2_uniform(pooled)
    return {"sequences": n_total, "parsed": len(seqs), "unparseable": n_total - len(seqs),
            "repeat_histogram": hist.tolist(), "repeat_mode": int(np.argmax(hist)) if seqs else None,
            "mean_repeats": float(np.mean([LENGTH - len(set(s)) for s in seqs])) if seqs else None,
            "repeat_mse_vs_uniform": mse(hist, ref) if seqs else None,
            "uniform_repeat_histogram": ref.tolist(),
            "chi2": chi2 if seqs else None, "p_value": pv if seqs else None,
            "p_value_log10": chi2_log10_sf(chi2, len(VALUES) - 1) if seqs else None,
            "position_counts": position_counts(seqs, VALUES, LENGTH).tolist()}


def _sample(lm, indices, temperature, top_p, seed, fmt_infix):
    from ...kernels.engine.sampling import row_rng
    rngs = [row_rng(seed, i) for i in indices]
    if getattr(lm, "is_oracle", False):
        return [", ".join(str(x) for x in rng.integers(0, 11, LENGTH)) for rng in rngs]
    from ...kernels.engine.session import Session
    s = Session(lm, lm.encode(PROMPT, fmt_infix), len(indices))
    return s.sample(rngs, max_new_tokens=MAX_NEW_TOKENS, stop="\n", temperature=temperature, top_p=top_p)


def run_sequences(models, *, samples=200, temperatures=(1.0,), top_ps=(1.0,), seed=0, out="results", infix=None,
                  load=None, progress=True, log=None) -> list[dict]:
    """Every (model, temperature, top-p): `samples` sequences, resumed from the result files; a bar
    while sampling (`progress`), notes to `log` (default: `progress.note`)."""
    from ...kernels.engine.sampling import check_settings
    from ...progress import bar, note, reused
    from ..results import ResultFile, append, as_lm, model_config, provenance, write_summary

    if samples < 1:
        raise UserError("--samples must be at least 1")
    for t in temperatures:
        for p in top_ps:
            check_settings(t, p)
    infix = INFIX if infix is None else infix
    rows = []
    for spec in models:
        lm = as_lm(spec, load)
        for t in temperatures:
            for p in top_ps:
                config = {"task": "sequences", "infix": infix, "prompt": PROMPT, "temperature": t, "top_p": p,
                          "seed": seed, "max_new_tokens": MAX_NEW_TOKENS, **model_config(lm)}
                rf = ResultFile(out, "sequences", lm.spec, config)
                done = rf.done("index")
                todo = [i for i in range(samples) if i not in done]
                rf.wanted = samples
                t0 = time.perf_counter()
                what = f"{lm.spec} sequences T={t:g} top-p={p:g}"
                if len(todo) < samples:
                    (log or note)(f"{what}: {reused(samples - len(todo), samples, 'sequences')}"
                                  + (f", {len(todo)} to sample" if todo else ""))
                if todo:
                    with rf.open({"provenance": provenance(lm, seed)}) as fh, \
                            bar(samples, what, "sequences", initial=samples - len(todo), show=progress) as b:
                        for s in range(0, len(todo), CHUNK):
                            chunk = todo[s:s + CHUNK]
                            texts = _sample(lm, chunk, t, p, seed, infix)
                            recs = [{"index": i, "text": x, "numbers": parse(x)} for i, x in zip(chunk, texts)]
                            append(fh, recs)
                            done.update({r["index"]: r for r in recs})
                            b.update(len(chunk))
                seqs = [done[i]["numbers"] for i in range(samples) if done[i]["numbers"] is not None]
                row = {"model": lm.spec, "temperature": t, "top_p": p, **measure(seqs, samples),
                       "examples": [done[i]["text"] for i in range(min(3, samples))],
                       "seconds": round(time.perf_counter() - t0, 1), "results": str(rf.path)}
                with rf.open({}) as fh:
                    write_summary(fh, row)
                rows.append(row)
    return rows
