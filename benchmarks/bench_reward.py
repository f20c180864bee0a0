"""Reward-model scoring throughput on a random-initialised Tulu-3-8B-RM-shaped model (issue: reward).

The shape comes from the shipped config (logitscope/configs/tulu-3-8b-rm.json); `--layers` keeps
only the first N decoder layers (a few on CPU, all 32 on a GPU). Inputs are random token ids with
lengths like a prompt + response (64-320 tokens). Prints pairs/s for the batched scorer against
scoring one pair at a time (the naive loop), in the same run (synchronised wall times, each after a
warm-up), the largest score difference between the two, and the peak memory of each (CUDA
allocated and reserved, or peak RSS); one JSON line (--json-out).

    python benchmarks/bench_reward.py [--layers 2] [--pairs 64] [--batch-size 16] [--dtype fp32|bf16]
        [--device cpu|cuda] [--override hidden_size=64,...]
"""
from __future__ import annotations

import argparse
import json
from importlib import resources
from types import SimpleNamespace

import numpy as np
import torch

from common import add_device_args, device_of, emit, memory, overrides, reset_memory, timed


def build(layers: int, dtype, device, extra: dict):
    import transformers as tf
    cfg = json.loads(resources.files("logitscope.configs").joinpath("tulu-3-8b-rm.json").read_text())
    cfg = {k: v for k, v in cfg.items() if not k.startswith("_")}
    cfg.update(extra)
    cfg["num_hidden_layers"] = layers
    config = tf.LlamaConfig(**cfg)
    torch.manual_seed(0)
    prev = torch.get_default_dtype()
    torch.set_default_dtype(dtype)                      # built in its dtype (no fp32 copy of 8B first)
    try:
        with torch.device(device):
            model = tf.LlamaForSequenceClassification(config).to(dtype)
    finally:
        torch.set_default_dtype(prev)
    model.eval()
    return model


def main():
    ap = argparse.ArgumentParser()
    add_device_args(ap)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--pairs", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--naive-pairs", type=int, default=None, help="time the one-by-one loop on fewer pairs")
    args = ap.parse_args()
    from logitscope.kernels.models.loading import torch_dtype
    from logitscope.kernels.reward import RewardModel, score_ids
    device = device_of(args)
    dtype = torch_dtype(args.dtype, device)
    built = {}
    with timed(device, built):
        model = build(args.layers, dtype, device, overrides(args.override))
    rm = RewardModel(model, SimpleNamespace(pad_token_id=0), "random tulu-3-8b-rm shape", "tulu")
    rng = np.random.default_rng(0)
    vocab = model.config.vocab_size
    rows = [rng.integers(1, vocab, size=int(n)).tolist() for n in rng.integers(64, 321, size=args.pairs)]
    score_ids(rm, rows[:2], batch_size=2)                       # warm-up
    reset_memory(device)
    t_b = {}
    with timed(device, t_b):
        batched = score_ids(rm, rows, batch_size=args.batch_size)
    mem_b = memory(device)
    nn = min(args.naive_pairs or args.pairs, args.pairs)
    reset_memory(device)
    t_n = {}
    with timed(device, t_n):
        naive = [score_ids(rm, [r], batch_size=1)[0] for r in rows[:nn]]
    mem_n = memory(device)
    naive_s = t_n["seconds"] * args.pairs / nn
    name = torch.cuda.get_device_name(device) if torch.device(device).type == "cuda" else \
        f"CPU ({torch.get_num_threads()} threads)"
    emit(args, "reward_batched_vs_one_by_one", {
        "model": "random:tulu-3-8b-rm", "layers": args.layers, "device": str(device), "device_name": name,
        "dtype": str(dtype).replace("torch.", ""), "torch": torch.__version__, "build_seconds": built["seconds"],
        "pairs": args.pairs, "tokens": sum(map(len, rows)), "batch_size": args.batch_size,
        "batched_seconds": t_b["seconds"], "batched_pairs_per_s": args.pairs / t_b["seconds"],
        "one_by_one_seconds_scaled": naive_s, "one_by_one_pairs_timed": nn, "one_by_one_pairs_per_s": args.pairs / naive_s,
        "speedup": naive_s / t_b["seconds"], "max_score_diff": max(abs(a - b) for a, b in zip(batched, naive)),
        **{f"batched_{k}": v for k, v in mem_b.items()}, **{f"one_by_one_{k}": v for k, v in mem_n.items()},
        **({"overrides": overrides(args.override)} if args.override else {})})


if __name__ == "__main__":
    main()
