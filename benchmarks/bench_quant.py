"""fp32 vs bf16 vs qint8 vs qfloat8 on one model, one table (issue: scale).

For each setting: weight memory, the time of a batched forward (8 prompts, next-token log-probs),
the time of one exact answer readout (integers 0-10, chat prompt), and the KL divergence of that
answer distribution (answers + invalid + unexplored) from fp32's. Quantised weights are quanto's
(linear layers but the LM head), activations in fp32.

    python benchmarks/bench_quant.py [--model embedded:aligned] [--reps 5]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from logitscope.kernels.engine.answers import answer_distribution
from logitscope.kernels.engine.forward import next_logprobs
from logitscope.kernels.models.loading import load_model
from logitscope.kernels.models.quant import weight_bytes
from logitscope.tasks.randomness.integers import PROMPTS

SETTINGS = [("fp32", "fp32", None), ("bf16", "bf16", None), ("qint8", "fp32", "int8"), ("qfloat8", "fp32", "fp8")]


def vec(d):
    return np.array(list(d.answers.values()) + [d.invalid_mass, d.unexplored_mass])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="embedded:aligned")
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    rows, ref = [], None
    for name, dtype, q in SETTINGS:
        lm = load_model(args.model, dtype=dtype, quantize=q)
        batch = [lm.encode(p, "Number:") for p in PROMPTS] + [lm.encode(p + " Answer quickly.", "Number:") for p in PROMPTS[:3]]
        next_logprobs(lm, batch)                                      # warm-up
        t = time.perf_counter()
        for _ in range(args.reps):
            next_logprobs(lm, batch)
        t_fwd = (time.perf_counter() - t) / args.reps
        answer_distribution(lm, batch[0], "0-10")                     # warm-up (index build)
        t = time.perf_counter()
        d = answer_distribution(lm, batch[0], "0-10")
        t_ans = time.perf_counter() - t
        v = vec(d)
        if ref is None:
            ref = v
        kl = float((ref * np.log(np.maximum(ref, 1e-300) / np.maximum(v, 1e-300))).sum())
        rows.append((name, weight_bytes(lm.model) / 2**20, t_fwd, t_ans, kl, d.valid_mass))
        del lm
    print(f"\n{args.model} on CPU ({torch.get_num_threads()} threads): batched forward of {len(batch)} prompts, "
          "one exact integer readout")
    print(f"{'setting':8s} {'weights MiB':>11s} {'forward s':>9s} {'vs fp32':>7s} {'readout s':>9s} {'KL vs fp32':>10s} {'valid':>6s}")
    for name, mib, tf, ta, kl, valid in rows:
        print(f"{name:8s} {mib:11.0f} {tf:9.3f} {tf / rows[0][2]:6.2f}x {ta:9.2f} {kl:10.2e} {valid:6.3f}")


if __name__ == "__main__":
    main()
