"""Host work per decode step: aten ops dispatched and wall time, eager and compiled, side by side
against the least an eager full-distribution step does (issue #31).

At a tiny shape the GPU's share of a step is nothing, so what a step costs here is what it costs
the host: the ops it dispatches from Python (each a kernel launch on a GPU) and their wall time.
Rows, per decode step (ratios against the first row, measured in the same run):

  hf_forward      HF model forward on a DynamicCache, one token per row, + log_softmax (the baseline)
  session_append  `Session.append(..., read=True)`: one token per row, the log-probs read back
  generate        `generate`'s step (eager, compile off): forward + table + draws, one copy back
  hf_generate     HF `generate(output_scores=True)` + each step's entropy and top 5 from its scores
  static_eager    `generate` on static slots, the step not compiled (the compiled step's reference)
  compiled        `generate` on static slots with the compiled step (torch.compile fullgraph; on a
                  GPU CUDA graphs): its compile time is reported apart, after a warm-up run

Per-step figures of the generation rows are differences: (a run of S steps - a run of 2 steps) /
(S - 2), so the prompt's prefill and the first step drop out. Ops come from torch.profiler (every
`aten::` event, nested ones included); walls are medians of --reps runs.

    python benchmarks/bench_host.py                         # 2 layers, hidden 64, vocab 49152, 8 rows
    python benchmarks/bench_host.py --no-compile --steps 12  # the eager rows only (seconds)
    python benchmarks/bench_host.py --device cuda --random-weights smollm2-1.7b --rows 100 --full-shape
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("KINETO_LOG_LEVEL", "5")     # before torch: the profiler's own start/stop lines

import torch  # noqa: E402

from common import add_model_args, describe, emit, load, sync  # noqa: E402

PROMPT = "Steve is the CEO of a startup company"
TINY = "num_hidden_layers=2,hidden_size=64,intermediate_size=128,num_attention_heads=2,num_key_value_heads=2"


def aten_ops(fn) -> int:
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    return sum(1 for e in prof.events() if e.name.startswith("aten::"))


def wall(fn, device, reps) -> float:
    times = []
    for _ in range(reps):
        sync(device)
        t = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def hf_forward(lm, rows):
    """A function running one HF decode step (a fresh DynamicCache per call, prefilled outside it)."""
    from transformers import DynamicCache

    from logitscope.kernels.engine.forward import cache_kwargs
    model, dev = lm.model, lm.input_device
    ids = lm.encode(PROMPT)
    x = torch.tensor([ids] * rows, device=dev)
    state = {}

    def prefill():
        cache = DynamicCache()
        with torch.inference_mode():
            model(input_ids=x, attention_mask=torch.ones_like(x), **cache_kwargs(model, cache))
        state.update(cache=cache, mask=torch.ones(rows, len(ids) + 1, dtype=torch.long, device=dev),
                     tok=torch.arange(rows, device=dev)[:, None] + 100)

    def step():
        with torch.inference_mode():
            out = model(input_ids=state["tok"], attention_mask=state["mask"], logits_to_keep=1,
                        **cache_kwargs(model, state["cache"]))
            return torch.log_softmax(out.logits[:, -1].float(), -1)
    return prefill, step


def session_append(lm, rows):
    from logitscope.kernels.engine.session import Session
    root = Session(lm, lm.encode(PROMPT), 1)
    state = {}

    def prefill():
        state["s"] = root.copy([0] * rows)
        state["s"].append([[100 + i] for i in range(rows)])        # every row on its own slot
        state["k"] = 200

    def step():
        state["k"] += 1
        return state["s"].append([[state["k"] + i] for i in range(rows)], read=True)
    return prefill, step


def ours(lm, rows, steps, compile_setting):
    from logitscope.kernels.engine.generate import generate
    ids = lm.encode(PROMPT)

    def run(n):
        return generate(lm, ids, n=rows, max_new_tokens=n, seed=0, compile=compile_setting)
    return run


def hf_generate(lm, rows):
    model, dev = lm.model, lm.input_device
    x = torch.tensor([lm.encode(PROMPT)], device=dev)

    def run(n):
        with torch.inference_mode():
            out = model.generate(x, attention_mask=torch.ones_like(x), do_sample=True, max_new_tokens=n, min_new_tokens=n,
                                 num_return_sequences=rows, output_scores=True, return_dict_in_generate=True,
                                 pad_token_id=lm.pad_id, top_k=0)
            lp = torch.log_softmax(torch.stack(out.scores, 1).float(), -1)    # [rows, steps, vocab]
            ent = -(lp.exp() * lp).nan_to_num().sum(-1)
            top = torch.topk(lp, 5, -1)
            return ent.cpu(), top.values.cpu(), top.indices.cpu()
    return run


def per_step_pair(run, steps, device, reps):
    """(ops, wall seconds) per step of a generation run: differences of S and 2 steps."""
    run(2)
    ops = (aten_ops(lambda: run(steps)) - aten_ops(lambda: run(2))) / (steps - 2)
    t = (wall(lambda: run(steps), device, reps) - wall(lambda: run(2), device, reps)) / (steps - 2)
    return ops, t


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_args(ap)
    ap.set_defaults(random_weights="smollm2-1.7b", override=TINY)
    ap.add_argument("--full-shape", action="store_true", help="the shape as shipped (no --override)")
    ap.add_argument("--rows", type=int, default=8)
    ap.add_argument("--steps", type=int, default=22, help="decode steps of the long generation runs")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="torch threads on the CPU (the issue's figures: 1)")
    ap.add_argument("--no-compile", action="store_true", help="leave out the compiled row")
    args = ap.parse_args()
    if args.full_shape:
        args.override = ""
    torch.set_num_threads(args.threads)
    lm = load(args)
    dev = lm.input_device
    rows = {}

    prefill, step = hf_forward(lm, args.rows)
    prefill()
    step()
    rows["hf_forward"] = (aten_ops(lambda: (prefill(), step())) - aten_ops(prefill),
                          wall(lambda: (prefill(), step()), dev, args.reps) - wall(prefill, dev, args.reps))
    prefill, step = session_append(lm, args.rows)
    prefill()
    step()
    rows["session_append"] = (aten_ops(lambda: (prefill(), step())) - aten_ops(prefill),
                              wall(lambda: (prefill(), step()), dev, args.reps) - wall(prefill, dev, args.reps))
    rows["generate"] = per_step_pair(ours(lm, args.rows, args.steps, "off"), args.steps, dev, args.reps)
    rows["hf_generate"] = per_step_pair(hf_generate(lm, args.rows), args.steps, dev, args.reps)
    from logitscope.kernels.engine import compiled
    lm._static_engine = compiled.StaticEngine(lm, compiled=False)
    rows["static_eager"] = per_step_pair(ours(lm, args.rows, args.steps, "on"), args.steps, dev, args.reps)
    compile_s = None
    if not args.no_compile:
        lm._static_engine = compiled.StaticEngine(lm, compiled=True)
        t = time.perf_counter()
        ours(lm, args.rows, args.steps, "on")(3)                      # compiles the step (one graph)
        compile_s = time.perf_counter() - t
        rows["compiled"] = per_step_pair(ours(lm, args.rows, args.steps, "on"), args.steps, dev, args.reps)

    base_ops, base_wall = rows["hf_forward"]
    info = describe(lm)
    print(f"\nper decode step, {args.rows} rows, {info['params']:,} parameters, device {info['device_name']}, "
          f"{args.threads} thread(s); ratios against hf_forward measured in this run")
    print(f"{'':16} {'aten ops':>9} {'x hf':>6} {'wall ms':>9} {'x hf':>6}")
    for name, (ops, sec) in rows.items():
        print(f"{name:16} {ops:9.0f} {ops / base_ops:6.2f} {sec * 1e3:9.2f} {sec / base_wall:6.2f}")
        emit(args, "host", {"row": name, "aten_ops_per_step": ops, "ops_ratio_vs_hf_forward": ops / base_ops,
                            "wall_ms_per_step": sec * 1e3, "wall_ratio_vs_hf_forward": sec / base_wall,
                            "rows": args.rows, **info})
    if compile_s is not None:
        print(f"compile (first compiled run, 3 steps): {compile_s:.1f} s")
        emit(args, "host", {"row": "compile", "seconds": compile_s, **info})
    print(f"targets (issue #31.4): session_append <= 1.2x hf_forward ops: {rows['session_append'][0] / base_ops:.2f}; "
          f"generate <= 1.4x: {rows['generate'][0] / base_ops:.2f}")


if __name__ == "__main__":
    main()
