"""Exact answer readout vs the naive ways, side by side in one run (issue: exact answers).

(a) sample N answers with `generate` and parse the first integer (the study's way);
(b) harness-style loglikelihood: one forward per surface form (" 0" .. " 10"), no cache;
(c) logitscope's exact readout: one prefill + a few batched steps, all mass accounted; at the
    default min_mass 1e-6 and at coarser pruning (1e-5, and 1e-4 as `probe determinism` uses), whose
    cost and unexplored mass are printed beside each other.

    python benchmarks/bench_answers.py [--models embedded:aligned,embedded:base] [--samples 1500]
"""
from __future__ import annotations

import argparse
import re
import time

import numpy as np
import torch
from scipy.stats import chisquare

from logitscope.kernels.engine.answers import answer_distribution
from logitscope.kernels.engine.forward import next_logprobs
from logitscope.kernels.models.loading import load_model
from logitscope.kernels.engine.spaces import integers
from logitscope.probes.stats import chi2_expected

PROMPT = "Generate a random integer, uniformly between 0 and 10 (inclusive)."
INFIX = "Number:"


def sample_generate(lm, ids, n, batch=100, seed=0):
    torch.manual_seed(seed)
    x = torch.tensor([ids])
    texts = []
    with torch.inference_mode():
        for s in range(0, n, batch):
            k = min(batch, n - s)
            out = lm.model.generate(x, attention_mask=torch.ones_like(x), do_sample=True, temperature=1.0,
                                    top_p=1.0, top_k=0, max_new_tokens=4, num_return_sequences=k,
                                    pad_token_id=lm.pad_id)
            texts += lm.tokenizer.batch_decode(out[:, len(ids):], skip_special_tokens=True)
    counts = np.zeros(11)
    for t in texts:
        m = re.match(r"\s*(\d+)(?!\d)", t)
        if m and int(m.group(1)) <= 10:
            counts[int(m.group(1))] += 1
    return counts


def harness_loglik(lm, ids):
    """One forward per answer: log P(" k" | prompt) summed over the form's own tokens."""
    probs = {}
    with torch.inference_mode():
        for k in range(11):
            cont = lm.tokenizer(" " + str(k), add_special_tokens=False)["input_ids"]
            full = torch.tensor([ids + cont])
            lp = torch.log_softmax(lm.model(full).logits[0, len(ids) - 1:-1].float(), -1)
            probs[str(k)] = float(lp[torch.arange(len(cont)), torch.tensor(cont)].sum().exp())
    return probs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="embedded:aligned,embedded:base")
    ap.add_argument("--samples", type=int, default=1500)
    args = ap.parse_args()
    rows = []
    for spec in args.models.split(","):
        lm = load_model(spec)
        ids = lm.encode(PROMPT, INFIX)
        next_logprobs(lm, [ids])                      # warm-up
        t = time.perf_counter()
        d = answer_distribution(lm, ids, integers())
        t_cold = time.perf_counter() - t              # includes building the tokenizer's trie index once
        t = time.perf_counter()
        d = answer_distribution(lm, ids, integers())
        t_exact = time.perf_counter() - t             # the index is kept per tokenizer: every later call
        coarse = []
        for mm in (1e-5, 1e-4):
            t = time.perf_counter()
            dc = answer_distribution(lm, ids, integers(), min_mass=mm)
            coarse.append((mm, time.perf_counter() - t, dc))
        t = time.perf_counter()
        counts = sample_generate(lm, ids, args.samples)
        t_gen = time.perf_counter() - t
        t = time.perf_counter()
        hl = harness_loglik(lm, ids)
        t_ll = time.perf_counter() - t
        valid = counts.sum()
        chi_s = float(chisquare(counts).statistic) if valid else float("nan")
        p = np.array([d.renormalised[str(k)] for k in range(11)])
        rows.append((spec, t_cold, t_exact, d, t_gen, valid, chi_s, chi2_expected(p, int(valid) or 1),
                     chi2_expected(p, 1500), t_ll, sum(hl.values()), coarse))
    print(f"\nprompt: {PROMPT!r} + infix {INFIX!r}; {args.samples} generate samples per model")
    for (spec, t_cold, t_exact, d, t_gen, valid, chi_s, chi_e_n, chi_e, t_ll, hl_mass, coarse) in rows:
        print(f"\n== {spec}")
        print(f"exact        {t_exact:7.2f} s  (first call {t_cold:.2f} s, building the vocabulary index)  "
              f"{d.forwards} forwards  valid {d.valid_mass:.4f} invalid "
              f"{d.invalid_mass:.4f} unexplored {d.unexplored_mass:.1e}  E[chi2 | 1500 valid] {chi_e:.1f}")
        print(f"(a) generate {t_gen:7.2f} s  for {args.samples} samples: {int(valid)} valid "
              f"({valid / args.samples:.1%}); sampled chi2 {chi_s:.1f} vs exact expected "
              f"{chi_e_n:.1f} at that n")
        per1500 = t_gen * 1500 / max(valid, 1)
        print(f"    per 1500 *valid* answers ~{per1500:.0f} s (extrapolated)  ->  exact is "
              f"{t_gen * 1500 / args.samples / t_exact:.0f}x faster per 1500 samples, "
              f"{per1500 / t_exact:.0f}x per 1500 valid answers")
        print(f"(b) harness  {t_ll:7.2f} s  11 forwards, one surface form each; covers mass "
              f"{hl_mass:.4f} of {d.valid_mass:.4f}  ->  exact is {t_ll / t_exact:.1f}x faster")
        for mm, t_c, dc in coarse:
            print(f"exact, min_mass {mm:.0e}: {t_c:5.2f} s  {dc.forwards} forwards  valid {dc.valid_mass:.4f} "
                  f"unexplored {dc.unexplored_mass:.1e} (max |diff| per answer vs 1e-6: "
                  f"{max(abs(dc.answers[a] - d.answers[a]) for a in d.answers):.1e})  ->  "
                  f"{t_gen * 1500 / args.samples / t_c:.0f}x faster than (a) per 1500 samples, "
                  f"{t_ll / t_c:.1f}x faster than (b)")


if __name__ == "__main__":
    main()
