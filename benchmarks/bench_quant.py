"""Weight quantisation on one model, one table (issue: scale; GPU).

Settings (--settings): on CUDA bf16 vs fp8 vs int8 weights (quanto; activations bf16); on the CPU
fp32 vs bf16 vs qint8 vs qfloat8 (activations fp32). Quantised weights are every linear layer's but the LM head.
For each setting (the same weights: a model or a seeded --random-weights shape, built again):
- weight memory (parameters + buffers; quantised: data + scales) and CUDA allocated after loading;
- a batched forward (`--prompts` prompts, next-token log-probs), synchronised, mean of `--reps`;
- one decode step: `Session.append` of one token to `--rows` rows after a `--context`-token prompt;
- one exact answer readout (integers 0-10, the integer task's prompt), after a warm-up;
- KL (bits) of each prompt's exact answer distribution (answers + invalid + unexplored mass) and of
  its full next-token distribution from the first setting's (bf16 on CUDA, fp32 on the CPU);
- CUDA peak allocated and reserved over the setting (or peak RSS).
With --random-weights the answers' first tokens are steered (common.steer_answers) to --answer-mass
of the first prompt's next-token mass under the reference setting, by the same constant in every
setting. On CUDA quanto's fp8 kernel (marlin) is a JIT build with nvcc + ninja: unless --quanto-kernels the
quantised matmuls take quanto's dequantise-then-matmul path (each row says which: quant_kernel).
Without optimum-quanto the quantised settings are one JSON line each saying so.

    python benchmarks/bench_quant.py [--model embedded:aligned] [--reps 5]
        [--random-weights llama-3.1-8b --device cuda --rows 100]
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from common import (add_answer_args, add_model_args, current_memory, describe, device_of, emit, free, kl_bits, load,
                    memory, quanto_missing, reset_memory, session_steps, steer_answers, timed)
from logitscope.kernels.engine.answers import answer_distribution, answer_distributions
from logitscope.kernels.engine.forward import next_logprobs
from logitscope.kernels.models.quant import weight_bytes
from logitscope.tasks.randomness.integers import PROMPTS

# name: (activation dtype, weight quantisation); the defaults per device
SETTINGS = {"fp32": ("fp32", None), "bf16": ("bf16", None), "qint8": ("fp32", "int8"), "qfloat8": ("fp32", "fp8"),
            "fp8": ("bf16", "fp8"), "int8": ("bf16", "int8")}
DEFAULT = {"cuda": "bf16,fp8,int8", "cpu": "fp32,bf16,qint8,qfloat8"}


def prompts(lm, n):
    texts = list(PROMPTS) + [p + " Answer quickly." for p in PROMPTS]
    return [lm.encode(texts[i % len(texts)] + " " * (i // len(texts)), "Number:") for i in range(n)]


def vec(d):
    return np.array(list(d.answers.values()) + [d.invalid_mass, d.unexplored_mass])


def next_token_kl_bits(ref: torch.Tensor, lp: torch.Tensor) -> list[float]:
    """KL(ref || lp) in bits per row of next-token log-probs (float64; masked ids carry no mass)."""
    a, b = ref.double(), lp.double()
    p = a.exp()
    terms = torch.where(p > 0, p * (a - b), torch.zeros((), dtype=torch.float64))
    return (terms.sum(-1) / np.log(2)).tolist()


def measure(lm, batch, args) -> tuple[dict, torch.Tensor, list]:
    dev = lm.input_device
    next_logprobs(lm, batch)                                          # warm-up
    t = {}
    with timed(dev, t):
        for _ in range(args.reps):
            lps = next_logprobs(lm, batch)
    step_s, _ = session_steps(lm, args.rows, args.context, args.steps, profile=False)
    answer_distribution(lm, batch[0], "0-10")                         # warm-up (index build)
    r = {}
    with timed(dev, r):
        answer_distribution(lm, batch[0], "0-10")
    dists = answer_distributions(lm, batch, "0-10")
    row = {"forward_ms": 1000 * t["seconds"] / args.reps, "decode_step_ms": 1000 * step_s,
           "readout_ms": 1000 * r["seconds"], "valid_mass_mean": float(np.mean([d.valid_mass for d in dists]))}
    return row, lps, [vec(d) for d in dists]


def main():
    ap = argparse.ArgumentParser()
    add_model_args(ap)
    add_answer_args(ap)
    ap.add_argument("--settings", default=None, help="comma list of settings (the first is the reference): "
                    "fp32, bf16, qint8, qfloat8 (fp32 activations), fp8, int8 (bf16 activations); "
                    "default bf16,fp8,int8 on CUDA, fp32,bf16,qint8,qfloat8 on the CPU")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--prompts", type=int, default=8, help="prompts in the batched forward and the KL")
    ap.add_argument("--rows", type=int, default=100, help="rows of the decode step")
    ap.add_argument("--context", type=int, default=256)
    ap.add_argument("--steps", type=int, default=10)
    args = ap.parse_args()
    dev = device_of(args)
    names = (args.settings or DEFAULT["cuda" if torch.device(dev).type == "cuda" else "cpu"]).split(",")
    if any(n not in SETTINGS for n in names):
        ap.error(f"--settings takes {', '.join(SETTINGS)}")
    ref = None
    for name in names:
        dtype, q = SETTINGS[name]
        missing = quanto_missing() if q else None
        if missing:
            emit(args, "quant", {"setting": name, "device": str(dev), "skipped": missing})
            continue
        args.dtype, args.quantize = dtype, q
        free(dev)
        reset_memory(dev)
        built = {}
        with timed(dev, built):
            lm = load(args)
        loaded = {**current_memory(dev), "weights_mib": weight_bytes(lm.model) / 2 ** 20}
        batch = prompts(lm, args.prompts)
        if args.random_weights and args.answer_mass:       # the reference's steering, the same for every setting
            loaded.update(steer_answers(lm, batch[0], "0-10", args.answer_mass,
                                        bias=ref[1]["answer_bias_nats"] if ref else None))
        row, lps, vecs = measure(lm, batch, args)
        row.update(loaded, build_seconds=built["seconds"], **memory(dev))
        if ref is None:
            ref = (name, row, lps, vecs)
        kl_ans = [kl_bits(a, b) for a, b in zip(ref[3], vecs)]
        kl_tok = next_token_kl_bits(ref[2], lps)
        base = ref[1]
        emit(args, "quant", {**describe(lm), "setting": name, **row, "reference": ref[0], "prompts": args.prompts,
                             "rows": args.rows, "context": args.context,
                             "answer_kl_bits_max": max(kl_ans), "answer_kl_bits_mean": float(np.mean(kl_ans)),
                             "next_token_kl_bits_max": max(kl_tok), "next_token_kl_bits_mean": float(np.mean(kl_tok)),
                             "weights_vs_reference": row["weights_mib"] / base["weights_mib"],
                             "forward_vs_reference": row["forward_ms"] / base["forward_ms"],
                             "decode_step_vs_reference": row["decode_step_ms"] / base["decode_step_ms"],
                             "readout_vs_reference": row["readout_ms"] / base["readout_ms"]})
        del lm, lps


if __name__ == "__main__":
    main()
