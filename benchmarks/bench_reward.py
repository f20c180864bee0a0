"""Reward-model scoring throughput on a random-initialised Tulu-3-8B-RM-shaped model (issue: reward).

The shape comes from the shipped config (logitscope/configs/tulu-3-8b-rm.json); `--layers` keeps
only the first N decoder layers (a few on CPU, all 32 on a GPU). Inputs are random token ids with
lengths like a prompt + response (64-320 tokens). Prints pairs/s for the batched scorer against
scoring one pair at a time (the naive loop), in the same run.

    python benchmarks/bench_reward.py [--layers 2] [--pairs 64] [--batch-size 16] [--dtype fp32|bf16] [--device cpu|cuda]
"""
from __future__ import annotations

import argparse
import json
import time
from importlib import resources
from types import SimpleNamespace

import numpy as np
import torch


def build(layers: int, dtype, device):
    import transformers as tf
    cfg = json.loads(resources.files("logitscope.configs").joinpath("tulu-3-8b-rm.json").read_text())
    cfg = {k: v for k, v in cfg.items() if not k.startswith("_")}
    cfg["num_hidden_layers"] = layers
    config = tf.LlamaConfig(**cfg)
    torch.manual_seed(0)
    with torch.device(device):
        model = tf.LlamaForSequenceClassification(config).to(dtype)
    model.eval()
    return model


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--pairs", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--dtype", default="fp32")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--naive-pairs", type=int, default=None, help="time the one-by-one loop on fewer pairs")
    args = ap.parse_args()
    from logitscope.kernels.reward import RewardModel, score_ids
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[args.dtype]
    t = time.perf_counter()
    model = build(args.layers, dtype, args.device)
    built = time.perf_counter() - t
    rm = RewardModel(model, SimpleNamespace(pad_token_id=0), "random tulu-3-8b-rm shape", "tulu")
    rng = np.random.default_rng(0)
    rows = [rng.integers(1, 128000, size=int(n)).tolist() for n in rng.integers(64, 321, size=args.pairs)]
    score_ids(rm, rows[:2], batch_size=2)                       # warm-up
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)
    sync()
    t = time.perf_counter()
    batched = score_ids(rm, rows, batch_size=args.batch_size)
    sync()
    t_b = time.perf_counter() - t
    nn = args.naive_pairs or args.pairs
    t = time.perf_counter()
    naive = [score_ids(rm, [r], batch_size=1)[0] for r in rows[:nn]]
    sync()
    t_n = (time.perf_counter() - t) * args.pairs / nn
    diff = max(abs(a - b) for a, b in zip(batched, naive))
    tokens = sum(map(len, rows))
    dev = torch.cuda.get_device_name() if args.device.startswith("cuda") else f"CPU ({torch.get_num_threads()} threads)"
    mem = f", peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB" if args.device.startswith("cuda") else ""
    print(f"Tulu-3-8B-RM shape, {args.layers} of 32 layers, {args.dtype}, {dev}; built in {built:.1f} s{mem}")
    print(f"{args.pairs} pairs, {tokens} tokens (64-320 per pair)")
    print(f"one by one   {t_n:7.2f} s  {args.pairs / t_n:8.2f} pairs/s" + (f"  (timed on {nn}, scaled)" if nn != args.pairs else ""))
    print(f"batched x{args.batch_size:<3d} {t_b:7.2f} s  {args.pairs / t_b:8.2f} pairs/s  -> {t_n / t_b:.1f}x; "
          f"max |score difference| {diff:.1e}")


if __name__ == "__main__":
    main()
