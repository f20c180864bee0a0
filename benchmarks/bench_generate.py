"""Generation with per-token statistics vs Hugging Face `generate`, side by side, each in a process
of its own (issue: open-ended generation).

For each model, on the same prompt and settings (T = 1, top-p = 1, 100 samples x 128 new tokens):
(a) Hugging Face: `model.generate(do_sample=True, num_return_sequences=100, output_scores=True,
    return_dict_in_generate=True)`, then the full and top-5 entropy of every generated token
    computed from the returned scores (what a user would write to get the same statistics);
(b) logitscope: `generate(lm, prompt, n=100, max_new_tokens=128)`: one session, each row its own
    seeded generator, the statistics recorded on the way, finished rows dropped.
(The two are `bench_step.hf` and `bench_step.ours`: warmed up, synchronised, same stopping ids.)
Each method runs in its own subprocess (so its peak memory is its own), alternating, `--repeats`
times; the best wall time of the repeats, the ratio HF / logitscope, tokens generated, and the peak
memory: CUDA peak allocated and reserved, and allocated above the loaded model (on the CPU: peak
RSS and its rise above the loaded model). One JSON line per method and model, one per ratio.

    python benchmarks/bench_generate.py [--models embedded:aligned,embedded:base] [--samples 100]
        [--max-new-tokens 128] [--repeats 1] [--random-weights smollm2-1.7b --device cuda]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys

from common import add_model_args, current_memory, describe, emit, load, memory, reset_memory

PASS = ("random_weights", "tokenizer", "override", "device", "dtype", "quantize")


def worker(args) -> dict:
    from bench_step import hf, ours
    lm = load(args)
    dev = lm.input_device
    loaded = current_memory(dev).get("cuda_allocated_mib") or memory(dev)["peak_rss_mib"]
    reset_memory(dev)
    run = hf if args.worker == "hf" else ours
    r = run(lm, args.samples, args.max_new_tokens)
    mem = memory(dev)
    peak = mem.get("cuda_peak_allocated_mib") or mem["peak_rss_mib"]
    return {**describe(lm), "method": args.worker, **r, **mem, "peak_mib_above_model": peak - loaded}


def run_worker(method, spec, a) -> dict:
    cmd = [sys.executable, __file__, "--worker", method, "--model", spec, "--samples", str(a.samples),
           "--max-new-tokens", str(a.max_new_tokens)]
    for key in PASS:
        if getattr(a, key):
            cmd += [f"--{key.replace('_', '-')}", str(getattr(a, key))]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{method} worker failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    add_model_args(ap)
    ap.add_argument("--models", default="embedded:aligned,embedded:base", help="ignored with --random-weights")
    ap.add_argument("--samples", type=int, default=100)
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--worker", choices=["hf", "logitscope"], help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        print(json.dumps(worker(a), default=float))
        return
    specs = [a.random_weights] if a.random_weights else a.models.split(",")
    for spec in specs:
        best = {}
        for _ in range(a.repeats):
            for method in ("hf", "logitscope"):
                res = run_worker(method, spec, a)
                if method not in best or res["seconds"] < best[method]["seconds"]:
                    best[method] = res
        for r in best.values():
            emit(a, "generate_process", {**r, "samples": a.samples, "new_tokens": a.max_new_tokens,
                                         "repeats": a.repeats, "tokens_per_s": r["tokens"] / r["seconds"]})
        hf, ls = best["hf"], best["logitscope"]
        emit(a, "generate_process_ratio", {"model": ls["model"], "device": ls["device"], "samples": a.samples,
                                           "new_tokens": a.max_new_tokens,
                                           "wall_ratio_hf_over_ours": hf["seconds"] / ls["seconds"],
                                           "tokens_per_s_ratio": (ls["tokens"] / ls["seconds"]) / (hf["tokens"] / hf["seconds"]),
                                           "peak_ratio_hf_over_ours": hf["peak_mib_above_model"] / max(ls["peak_mib_above_model"], 1e-9)})


if __name__ == "__main__":
    main()
