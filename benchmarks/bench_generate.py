"""Generation with per-token statistics vs Hugging Face `generate`, side by side (issue: open-ended
generation).

For each model, on the same prompt and settings (T = 1, top-p = 1, 100 samples x 128 new tokens):
(a) Hugging Face: `model.generate(do_sample=True, num_return_sequences=100, output_scores=True,
    return_dict_in_generate=True)`, then the full and top-5 entropy of every generated token
    computed from the returned scores (what a user would write to get the same statistics);
(b) logitscope: `generate(lm, prompt, n=100, max_new_tokens=128)`: one session, each row its own
    seeded generator, the statistics recorded on the way, finished rows dropped.
Each method runs in its own subprocess (so peak memory is its own), alternating, `--repeats`
times; the script prints wall time (best of the repeats), the ratio HF / logitscope, tokens
generated, and the peak resident memory above the loaded model.

    python benchmarks/bench_generate.py [--models embedded:aligned,embedded:base] [--samples 100]
        [--max-new-tokens 128] [--repeats 1]
"""
from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time

PROMPT = "Steve is the CEO of a startup company"


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(method: str, spec: str, samples: int, max_new: int) -> dict:
    import torch

    from logitscope.kernels.models.loading import load_model
    lm = load_model(spec, log=lambda m: None)
    ids = lm.encode(PROMPT)
    base_rss = rss_mib()
    t0 = time.perf_counter()
    if method == "hf":
        torch.manual_seed(0)
        x = torch.tensor([ids])
        with torch.inference_mode():
            out = lm.model.generate(x, attention_mask=torch.ones_like(x), do_sample=True, temperature=1.0, top_p=1.0,
                                    top_k=0, max_new_tokens=max_new, num_return_sequences=samples,
                                    output_scores=True, return_dict_in_generate=True, pad_token_id=lm.pad_id)
            seqs = out.sequences[:, len(ids):]
            ends = set(lm.tokenizer.all_special_ids)
            ent, top5 = [], []
            for scores in out.scores:          # [samples, vocab] per step
                lp = torch.log_softmax(scores.float(), -1)
                p = lp.exp()
                ent.append(-(torch.where(p > 0, p * lp, 0.0)).sum(-1) / math.log(2))
                q = torch.softmax(torch.topk(lp, 5, -1).values, -1)
                top5.append(-(q * q.log()).sum(-1) / math.log(2))
            alive, live = torch.ones(samples, dtype=torch.bool), []
            for step in range(seqs.shape[1]):                     # tokens up to and including each row's end
                live.append(alive.clone())
                alive &= ~torch.isin(seqs[:, step], torch.tensor(sorted(ends)))
            live = torch.stack(live)
            tokens = int(live.sum())
        mean_top5 = float(torch.stack(top5)[live].mean())
    else:
        from logitscope.kernels.engine.generate import generate
        got = generate(lm, ids, n=samples, max_new_tokens=max_new, seed=0)
        tokens = sum(len(s.ids) for s in got)
        mean_top5 = sum(sum(s.top5_entropy) for s in got) / max(tokens, 1)
    seconds = time.perf_counter() - t0
    return {"method": method, "seconds": seconds, "tokens": tokens, "mean_top5_bits": mean_top5,
            "peak_mib_above_model": rss_mib() - base_rss, "peak_mib": rss_mib()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="embedded:aligned,embedded:base")
    ap.add_argument("--samples", type=int, default=100)
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        print(json.dumps(worker(a.worker[0], a.worker[1], a.samples, a.max_new_tokens)))
        return
    print(f"prompt {PROMPT!r}: {a.samples} samples x {a.max_new_tokens} new tokens, T=1, top-p=1")
    for spec in a.models.split(","):
        best = {}
        for _ in range(a.repeats):
            for method in ("hf", "logitscope"):
                cmd = [sys.executable, __file__, "--worker", method, spec, "--samples", str(a.samples),
                       "--max-new-tokens", str(a.max_new_tokens)]
                res = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.splitlines()[-1])
                if method not in best or res["seconds"] < best[method]["seconds"]:
                    best[method] = res
        hf, ls = best["hf"], best["logitscope"]
        print(f"\n{spec}")
        for r in (hf, ls):
            print(f"  {r['method']:<10} {r['seconds']:7.1f} s  {r['tokens']:6d} tokens  "
                  f"{r['tokens'] / r['seconds']:6.1f} tok/s  mean top-5 entropy {r['mean_top5_bits']:.3f} bits  "
                  f"peak RSS {r['peak_mib']:.0f} MiB ({r['peak_mib_above_model']:+.0f} MiB above the loaded model)")
        print(f"  ratio HF / logitscope: {hf['seconds'] / ls['seconds']:.2f}x wall time, "
              f"{(ls['tokens'] / ls['seconds']) / (hf['tokens'] / hf['seconds']):.2f}x tokens per second")


if __name__ == "__main__":
    main()
