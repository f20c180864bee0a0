"""One decode step, wall time against the time the device itself spends (torch.profiler), and
`generate` against Hugging Face `generate(output_scores=True)` on the same model (issue: GPU).

(a) `Session.append` of one token to each of `--rows` rows (distinct rows, a `--context`-token
    prompt): wall time per step (synchronised) and the device's kernel time per step from
    torch.profiler (CUDA only); the ratio wall / device is the host overhead the step carries.
(b) `generate(lm, prompt, n=rows, max_new_tokens=N)` with its per-token statistics: time per step
    and tokens per second, the device time per step from the profiler;
(c) HF `model.generate(do_sample=True, num_return_sequences=rows, output_scores=True)` with the
    same statistics computed from its scores (what a user would write), same prompt and length;
    with `--no-cudnn-baseline` also HF with the cuDNN SDPA backend switched off (on the CPU the same
    call, marked n/a). HF stops a row at the tokenizer's special ids (ours at those and any id
    that spells no text); both are warmed up first; the statistics are inside HF's timed block.
Prints one JSON line per result (and appends them to --json-out).

    python benchmarks/bench_step.py --random-weights smollm2-1.7b --device cuda [--rows 100] [--new 128]
"""
from __future__ import annotations

import argparse
import math

import torch

from common import add_model_args, compiled_steps, describe, emit, load, memory, profiled_ms, reset_memory, \
    session_steps, timed

PROMPT = "Steve is the CEO of a startup company"


def ours(lm, rows, new, compile="off"):
    from logitscope.kernels.engine.generate import generate
    ids = lm.encode(PROMPT)
    warm = {}
    with timed(lm.input_device, warm):                                    # warm-up (compiled: the same
        generate(lm, ids, n=rows if compile == "on" else min(rows, 4),    # bucket, so the graph is built)
                 max_new_tokens=new if compile == "on" else 4, seed=0, compile=compile)
    out = {}
    with timed(lm.input_device, out):
        got = generate(lm, ids, n=rows, max_new_tokens=new, seed=0, compile=compile)
    tokens = sum(len(s.ids) for s in got)
    steps = max(len(s.ids) for s in got)
    device_ms = profiled_ms(lm.input_device, lambda: generate(lm, ids, n=rows, max_new_tokens=new, seed=1,
                                                              compile=compile), steps)
    mean5 = sum(sum(s.top5_entropy) for s in got) / max(tokens, 1)
    mean = sum(sum(s.entropy) for s in got) / max(tokens, 1)
    return {"seconds": out["seconds"], "tokens": tokens, "steps": steps, "device_ms_per_step": device_ms,
            "mean_entropy_bits": mean, "mean_top5_entropy_bits": mean5, "compile": compile,
            **({"warmup_seconds_with_compile": warm["seconds"]} if compile == "on" else {})}


def hf(lm, rows, new, cudnn=True):
    ids = lm.encode(PROMPT)
    dev = lm.input_device
    x = torch.tensor([ids], device=dev)
    ends = torch.tensor(sorted(set(lm.tokenizer.all_special_ids)), device=dev)  # ours ends at these (and any id without text)
    prev = torch.backends.cuda.cudnn_sdp_enabled() if dev.type == "cuda" else None
    if dev.type == "cuda":
        torch.backends.cuda.enable_cudnn_sdp(cudnn)
    try:
        with torch.inference_mode():                                            # warm-up
            lm.model.generate(x, attention_mask=torch.ones_like(x), do_sample=True, max_new_tokens=4,
                              num_return_sequences=min(rows, 4), pad_token_id=lm.pad_id)
        torch.manual_seed(0)
        out = {}
        with torch.inference_mode(), timed(dev, out):
            res = lm.model.generate(x, attention_mask=torch.ones_like(x), do_sample=True, temperature=1.0, top_p=1.0,
                                    top_k=0, max_new_tokens=new, num_return_sequences=rows, output_scores=True,
                                    return_dict_in_generate=True, pad_token_id=lm.pad_id, eos_token_id=ends.tolist())
            seqs = res.sequences[:, len(ids):]
            full, top5, live = [], [], []
            alive = torch.ones(rows, dtype=torch.bool, device=dev)
            for step, scores in enumerate(res.scores):
                lp = torch.log_softmax(scores.float(), -1)
                full.append(-(lp.exp() * lp).nan_to_num().sum(-1) / math.log(2))
                q = torch.softmax(torch.topk(lp, 5, -1).values, -1)
                top5.append(-(q * q.log()).nan_to_num().sum(-1) / math.log(2))
                live.append(alive.clone())
                alive &= ~torch.isin(seqs[:, step], ends)
            live = torch.stack(live)
            tokens = int(live.sum())
            mean5 = float(torch.stack(top5)[live].mean())
            mean = float(torch.stack(full)[live].mean())
    finally:
        if dev.type == "cuda":
            torch.backends.cuda.enable_cudnn_sdp(prev)
    return {"seconds": out["seconds"], "tokens": tokens, "steps": seqs.shape[1], "mean_entropy_bits": mean,
            "mean_top5_entropy_bits": mean5, "cudnn_sdp": cudnn if dev.type == "cuda" else "n/a (cpu)"}


def main():
    ap = argparse.ArgumentParser()
    add_model_args(ap)
    ap.add_argument("--rows", type=int, default=100)
    ap.add_argument("--context", type=int, default=256, help="prompt tokens before the timed appends")
    ap.add_argument("--steps", type=int, default=20, help="appends timed (and as many profiled)")
    ap.add_argument("--new", type=int, default=128, help="new tokens per generated row")
    ap.add_argument("--no-cudnn-baseline", action="store_true", help="also time HF generate with cuDNN SDPA off")
    ap.add_argument("--skip", default="", help="comma list of parts to skip: step, generate, hf")
    ap.add_argument("--compiled", action="store_true",
                    help="the compiled path instead: the captured decode step (wall vs profiled device time), "
                         "generate with --compile on, and HF generate beside it")
    args = ap.parse_args()
    lm = load(args)
    base = {**describe(lm), "rows": args.rows}
    skip = set(filter(None, args.skip.split(",")))
    if args.compiled:
        return compiled(args, lm, base, skip)
    if "step" not in skip:
        reset_memory(lm.input_device)
        per, dev_ms = session_steps(lm, args.rows, args.context, args.steps)
        emit(args, "decode_step", {**base, "context": args.context, "wall_ms_per_step": 1000 * per,
                                   "device_ms_per_step": dev_ms,
                                   "wall_over_device": None if not dev_ms else 1000 * per / dev_ms, **memory(lm.input_device)})
    runs = [("generate", lambda: ours(lm, args.rows, args.new)), ("hf", lambda: hf(lm, args.rows, args.new))]
    if args.no_cudnn_baseline:
        runs.append(("hf_cudnn_off", lambda: hf(lm, args.rows, args.new, cudnn=False)))
    results = generation_rows(args, lm, base, [(n, r) for n, r in runs if n.split("_")[0] not in skip])
    if "generate" in results and "hf" in results:
        a, b = results["generate"], results["hf"]
        emit(args, "generate_vs_hf", {**base, "wall_ratio_hf_over_ours": b["seconds"] / a["seconds"],
                                      "tokens_per_s_ratio": (a["tokens"] / a["seconds"]) / (b["tokens"] / b["seconds"]),
                                      **({"wall_ratio_hf_cudnn_off_over_ours": results["hf_cudnn_off"]["seconds"]
                                          / a["seconds"]} if "hf_cudnn_off" in results else {})})


def generation_rows(args, lm, base, runs) -> dict:
    """Run each (name, run) with the memory peak reset before it, emit its row; {name: result}."""
    results = {}
    for name, run in runs:
        reset_memory(lm.input_device)
        r = run()
        r.update(memory(lm.input_device))
        results[name] = r
        emit(args, name, {**base, "new_tokens": args.new, **r, "tokens_per_s": r["tokens"] / r["seconds"],
                          "ms_per_step": 1000 * r["seconds"] / max(r["steps"], 1)})
    return results


def compiled(args, lm, base, skip):
    """The compiled rows: decode_step_compiled, generate_compiled, hf_beside_compiled and their ratio."""
    if "step" not in skip:
        reset_memory(lm.input_device)
        r = compiled_steps(lm, args.rows, args.context, args.steps)
        emit(args, "decode_step_compiled", {**base, "context": args.context, **r,
                                            "wall_over_device": None if not r["device_ms_per_step"]
                                            else r["wall_ms_per_step"] / r["device_ms_per_step"], **memory(lm.input_device)})
    results = generation_rows(args, lm, base, [("generate_compiled", lambda: ours(lm, args.rows, args.new, compile="on")),
                                               ("hf_beside_compiled", lambda: hf(lm, args.rows, args.new))])
    a, b = results["generate_compiled"], results["hf_beside_compiled"]
    emit(args, "generate_compiled_vs_hf", {**base, "wall_ratio_hf_over_ours": b["seconds"] / a["seconds"],
                                           "tokens_per_s_ratio": (a["tokens"] / a["seconds"]) / (b["tokens"] / b["seconds"])})


if __name__ == "__main__":
    main()
