"""Exact answer readout vs the naive ways, side by side in one run (issue: exact answers).

(a) sample N answers with `generate` and parse the first integer (the study's way);
(b) harness-style loglikelihood: one forward per surface form (" 0" .. " 10"), no cache;
(c) logitscope's exact readout: one prefill + a few batched steps, all mass accounted; at the
    default min_mass 1e-6 and at coarser pruning (1e-5, and 1e-4 as `probe determinism` uses), whose
    cost and unexplored mass are printed beside each other.

With --random-weights the answers' first tokens are steered to --answer-mass of the prompt's
next-token mass (common.steer_answers). Every time is synchronised wall time on the model's device; one JSON line per model (--json-out)
with the peak memory of the run (CUDA allocated and reserved, or peak RSS).

    python benchmarks/bench_answers.py [--models embedded:aligned,embedded:base] [--samples 1500]
        [--random-weights smollm2-1.7b --device cuda]
"""
from __future__ import annotations

import argparse
import re

import numpy as np
import torch
from scipy.stats import chisquare

from common import add_answer_args, add_model_args, describe, emit, load, memory, reset_memory, steer_answers, timed
from logitscope.kernels.engine.answers import answer_distribution
from logitscope.kernels.engine.forward import next_logprobs
from logitscope.kernels.engine.spaces import integers
from logitscope.probes.stats import chi2_expected

PROMPT = "Generate a random integer, uniformly between 0 and 10 (inclusive)."
INFIX = "Number:"


def sample_generate(lm, ids, n, batch=100, seed=0):
    torch.manual_seed(seed)
    x = torch.tensor([ids], device=lm.input_device)
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
            full = torch.tensor([ids + cont], device=lm.input_device)
            lp = torch.log_softmax(lm.model(full).logits[0, len(ids) - 1:-1].float(), -1)
            probs[str(k)] = float(lp[torch.arange(len(cont)), torch.tensor(cont, device=lp.device)].sum().exp())
    return probs


def clock(lm, fn, *a, **kw):
    """(result, synchronised seconds) of fn(*a, **kw)."""
    out = {}
    with timed(lm.input_device, out):
        res = fn(*a, **kw)
    return res, out["seconds"]


def one_model(lm, samples) -> dict:
    ids = lm.encode(PROMPT, INFIX)
    next_logprobs(lm, [ids])                                      # warm-up
    _, t_cold = clock(lm, answer_distribution, lm, ids, integers())  # builds the tokenizer's trie index once
    d, t_exact = clock(lm, answer_distribution, lm, ids, integers())  # the index is kept per tokenizer
    coarse = []
    for mm in (1e-5, 1e-4):
        dc, t_c = clock(lm, answer_distribution, lm, ids, integers(), min_mass=mm)
        coarse.append({"min_mass": mm, "seconds": t_c, "forwards": dc.forwards, "valid_mass": dc.valid_mass,
                       "unexplored_mass": dc.unexplored_mass,
                       "max_abs_diff_vs_1e-6": max(abs(dc.answers[a] - d.answers[a]) for a in d.answers)})
    counts, t_gen = clock(lm, sample_generate, lm, ids, samples)
    hl, t_ll = clock(lm, harness_loglik, lm, ids)
    valid = int(counts.sum())
    p = np.array([d.renormalised[str(k)] for k in range(11)])
    per1500 = t_gen * 1500 / max(valid, 1)
    return {"exact_seconds": t_exact, "exact_first_call_seconds": t_cold, "exact_forwards": d.forwards,
            "valid_mass": d.valid_mass, "invalid_mass": d.invalid_mass, "unexplored_mass": d.unexplored_mass,
            "generate_seconds": t_gen, "samples": samples, "valid_samples": valid,
            "chi2_sampled": float(chisquare(counts).statistic) if valid else None,
            "chi2_expected_at_valid_n": chi2_expected(p, valid or 1), "chi2_expected_1500": chi2_expected(p, 1500),
            "generate_per_1500_valid_seconds_extrapolated": per1500,
            "exact_speedup_per_1500_samples": t_gen * 1500 / samples / t_exact,
            "exact_speedup_per_1500_valid": per1500 / t_exact,
            "harness_seconds": t_ll, "harness_mass": sum(hl.values()), "exact_speedup_vs_harness": t_ll / t_exact,
            "coarse": coarse}


def main():
    ap = argparse.ArgumentParser()
    add_model_args(ap)
    add_answer_args(ap)
    ap.add_argument("--models", default="embedded:aligned,embedded:base", help="ignored with --random-weights")
    ap.add_argument("--samples", type=int, default=1500)
    args = ap.parse_args()
    for spec in [None] if args.random_weights else args.models.split(","):
        args.model = spec or args.model
        lm = load(args)
        steered = steer_answers(lm, lm.encode(PROMPT, INFIX), integers(), args.answer_mass) \
            if args.random_weights and args.answer_mass else {}
        reset_memory(lm.input_device)
        row = one_model(lm, args.samples)
        emit(args, "answers_exact_vs_sampling", {**describe(lm), **steered, "prompt": PROMPT, "infix": INFIX, **row,
                                                 **memory(lm.input_device)})
        del lm


if __name__ == "__main__":
    main()
