"""What every benchmark shares: the model options (a real model, or a shipped shape with random
weights built on the device), timing that waits for the device, memory peaks, and one JSON line per
result (so `gpu.sh` collects one file).

    --model embedded:aligned | DIR | ...      a real model
    --random-weights smollm2-1.7b             a shipped shape (logitscope/configs) with random weights
    --tokenizer DIR                           the real tokenizer for it (default: the converted
                                              embedded:aligned, SmolLM2's, from this machine's cache)
    --override num_hidden_layers=2,...        config fields (a quick CPU check of a GPU script)
    --device cuda --dtype bf16 --json-out F

Shared measurements: `session_steps` (one decode step), `peak_tflops` (a matmul on the device in
its dtype), `kl_bits`; quantised models on CUDA multiply through quanto's dequantising path
unless --quanto-kernels (quanto's fp8 kernel is a JIT build with nvcc + ninja, minutes long).
"""
from __future__ import annotations

import json
import math
import os
import resource
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

# the CLI's CUDA allocator setting (logitscope/cli/main.py), so memory figures are what `probe` gets
os.environ.setdefault("PYTORCH_CUDA_ALLOC_CONF", "expandable_segments:True")


def add_device_args(ap):
    ap.add_argument("--device", default=None, help="cpu | cuda (default: cuda if available)")
    ap.add_argument("--dtype", default=None, help="fp32 | bf16 | fp16 (default: fp32 on CPU, bf16 on CUDA)")
    ap.add_argument("--override", default="", help="config fields of a shipped shape: key=value,...")
    ap.add_argument("--json-out", default=None, help="append one JSON line per result to this file")


def add_answer_args(ap):
    ap.add_argument("--answer-mass", type=float, default=0.9,
                    help="with --random-weights: raise the logits of the answers' first tokens so they hold "
                         "this share of the next-token mass at the task's prompt (0: leave the model as built)")


def add_model_args(ap, default_model="embedded:aligned"):
    ap.add_argument("--model", default=default_model, help="a model spec (ignored with --random-weights)")
    ap.add_argument("--random-weights", default=None, metavar="SHAPE",
                    help="a shipped shape with random weights: smollm2-1.7b, llama-3.1-8b, qwen2.5-7b, ...")
    ap.add_argument("--tokenizer", default=None, help="tokenizer directory for --random-weights")
    ap.add_argument("--quantize", default=None, choices=[None, "fp8", "int8"])
    ap.add_argument("--quanto-kernels", action="store_true",
                    help="on CUDA let quanto build its fp8 (marlin) kernel (nvcc + ninja, minutes)")
    add_device_args(ap)


EXPORTED = Path(__file__).resolve().parent / ".cache" / "smollm2-tokenizer"


def default_tokenizer() -> str:
    """SmolLM2's tokenizer (the one of every SmolLM2 size): the copy `prepare_cache.py` exported
    (it travels to a machine without network), else the converted embedded:aligned."""
    if (EXPORTED / "tokenizer.json").is_file():
        return str(EXPORTED)
    from logitscope.kernels.models.embedded import ensure_embedded
    from logitscope.kernels.models.registry import lookup
    return str(ensure_embedded(lookup("embedded:aligned").hub_id, log=lambda m: print(m, file=sys.stderr)))


def device_of(args) -> str:
    from logitscope.kernels.models.loading import default_device
    return args.device or default_device()


def overrides(text: str) -> dict:
    out = {}
    for item in filter(None, text.split(",")):
        k, v = item.split("=")
        out[k.strip()] = json.loads(v)
    return out


def load(args):
    """The LM the options describe, with the device and dtype it runs on."""
    from logitscope.kernels.models.loading import load_model, torch_dtype
    device = device_of(args)
    kernel = _quant_kernel(args, device)
    if args.random_weights:
        from logitscope.testing import shaped_lm
        lm = shaped_lm(args.random_weights, args.tokenizer or default_tokenizer(), device=device,
                       dtype=torch_dtype(args.dtype, device), **overrides(args.override))
        if args.quantize:
            from logitscope.kernels.models.quant import quantize_model
            quantize_model(lm.model, args.quantize)
            lm.info["quantize"] = args.quantize
    else:
        lm = load_model(args.model, device=device, dtype=args.dtype, quantize=args.quantize,
                        log=lambda m: print(m, file=sys.stderr))
    if kernel:
        lm.info["quant_kernel"] = kernel
    return lm


def quanto_missing() -> str | None:
    """Why quantised rows cannot run here (optimum-quanto not importable), or None."""
    try:
        import optimum.quanto  # noqa: F401
    except ImportError as exc:
        return f"optimum-quanto is not importable ({exc}); quantised rows skipped"
    return None


def _quant_kernel(args, device) -> str | None:
    """Which quantised matmul runs (logitscope.kernels.models.quant.quant_kernels: on CUDA quanto's
    dequantise-then-matmul path, no JIT build, unless --quanto-kernels)."""
    if not getattr(args, "quantize", None):
        return None
    if quanto_missing():
        return None                     # quantize_model says so
    if getattr(args, "quanto_kernels", False):
        os.environ["LOGITSCOPE_QUANTO_KERNELS"] = "1"
    from logitscope.kernels.models.quant import quant_kernels
    return quant_kernels(torch.device(device).type == "cuda")


def sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


@contextmanager
def timed(device, out: dict, key: str = "seconds"):
    """Wall time of the block, the device's queued work included (synchronised before and after)."""
    sync(device)
    t = time.perf_counter()
    yield out
    sync(device)
    out[key] = time.perf_counter() - t


def reset_memory(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def memory(device) -> dict:
    """Peak memory since the last reset: CUDA allocated and reserved, or the process's peak RSS, in MiB."""
    if torch.device(device).type == "cuda":
        return {"cuda_peak_allocated_mib": torch.cuda.max_memory_allocated(device) / 2 ** 20,
                "cuda_peak_reserved_mib": torch.cuda.max_memory_reserved(device) / 2 ** 20}
    return {"peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def current_memory(device) -> dict:
    """Memory held now (CUDA allocated, e.g. the weights right after loading), in MiB."""
    if torch.device(device).type == "cuda":
        return {"cuda_allocated_mib": torch.cuda.memory_allocated(device) / 2 ** 20}
    return {}


def free(device) -> None:
    """Give cached CUDA blocks back after a model is dropped (so the next peak is its own)."""
    import gc
    gc.collect()
    if torch.device(device).type == "cuda":
        torch.cuda.empty_cache()


def describe(lm) -> dict:
    dev = str(lm.input_device)
    name = torch.cuda.get_device_name(lm.input_device) if lm.input_device.type == "cuda" else "cpu"
    return {"model": lm.spec, "device": dev, "device_name": name, "dtype": lm.info.get("dtype"),
            "quantize": lm.info.get("quantize") or "none", "torch": torch.__version__,
            **({"cuda_alloc_conf": os.environ.get("PYTORCH_CUDA_ALLOC_CONF")} if lm.input_device.type == "cuda" else {}),
            **({"quant_kernel": lm.info["quant_kernel"]} if lm.info.get("quant_kernel") else {}),
            **({"overrides": lm.info["overrides"]} if lm.info.get("overrides") else {}),
            "params": sum(p.numel() for p in lm.model.parameters())}


def emit(args, bench: str, record: dict) -> None:
    """Print a result and append it as one JSON line to --json-out (undefined numbers as null)."""
    line = json.dumps(finite({"bench": bench, **record}), default=float, allow_nan=False)
    print(line, flush=True)
    if getattr(args, "json_out", None):
        Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
        with open(args.json_out, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")


def finite(x):
    """NaN and infinities as null (strict JSON); nested dicts and lists too."""
    if isinstance(x, dict):
        return {k: finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [finite(v) for v in x]
    if isinstance(x, (np.generic, torch.Tensor)):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def device_time_ms(prof) -> float | None:
    """Total time of the device's own events (kernels, copies) in a torch.profiler run, in ms; None
    without any. Summed as torch's own table totals "Self CUDA time": events whose device type is
    CUDA, not user annotations; a CPU op's self device time is the same kernels seen from the op
    that launched them, so counting it too would count them twice."""
    total, seen = 0.0, False
    for evt in prof.key_averages():
        if "CUDA" in str(getattr(evt, "device_type", "")) and not getattr(evt, "is_user_annotation", False):
            seen = True
            total += evt.self_device_time_total
    return total / 1000.0 if seen else None


def profiled_ms(device, fn, units) -> float | None:
    """Device kernel time per unit of `fn()` from torch.profiler (CUDA only; None on the CPU or if
    the profiler gives no CUDA events or fails, e.g. CUPTI unavailable: said on stderr)."""
    if torch.device(device).type != "cuda":
        return None
    from torch.profiler import ProfilerActivity, profile
    try:
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            fn()
            sync(device)
        total = device_time_ms(prof)
    except Exception as exc:          # a missing profiler must not cost the part its other figures
        print(f"profiler failed: {exc!r}", file=sys.stderr)
        return None
    return None if total is None else total / units


def session_steps(lm, rows, context, steps, warmup=3, profile=True):
    """(seconds per step, device ms per step or None): `Session.append` of one token to each of
    `rows` distinct rows after a `context`-token prompt, synchronised wall time over `steps`
    appends, then (CUDA, `profile`) the device's kernel time over as many more."""
    from logitscope.kernels.engine.session import Session
    g = torch.Generator().manual_seed(0)
    vocab = min(len(lm.tokenizer), lm.model.get_output_embeddings().weight.shape[0])
    prompt = torch.randint(100, vocab, (context,), generator=g).tolist()
    s = Session(lm, prompt, 1).copy([0] * rows)
    toks = torch.randint(100, vocab, (warmup + 2 * steps + 1, rows), generator=g).tolist()
    for k in range(warmup):
        s.append([[t] for t in toks[k]], read=False)
    out = {}
    with timed(lm.input_device, out):
        for k in range(warmup, warmup + steps):
            s.append([[t] for t in toks[k]], read=False)
    device_ms = None
    if profile:
        def more():
            for k in range(warmup + steps, warmup + 2 * steps):
                s.append([[t] for t in toks[k]], read=False)
        device_ms = profiled_ms(lm.input_device, more, steps)
    s.check()
    return out["seconds"] / steps, device_ms


def compiled_steps(lm, rows, context, steps, warmup=3, profile=True) -> dict:
    """The captured decode step (static slots, `torch.compile(fullgraph=True)`; CUDA graphs on a
    GPU): one token to each of `rows` distinct rows after a `context`-token prompt, as generation
    runs it (the table with draws and statistics included; the slot count padded to a power of two).
    {"compile_seconds" (the first call), "wall_ms_per_step" (synchronised, over `steps`),
    "device_ms_per_step" (CUDA: profiled over as many more; else None), "slots"}."""
    from logitscope.kernels.engine import static
    from logitscope.kernels.engine.session import Session
    g = torch.Generator().manual_seed(0)
    vocab = min(len(lm.tokenizer), lm.model.get_output_embeddings().weight.shape[0])
    prompt = torch.randint(100, vocab, (context,), generator=g).tolist()
    root = Session(lm, prompt, 1)
    width = static.bucket(rows)
    slots = static.StaticSlots(lm, width, static.capacity_bucket(context + warmup + 2 * steps + 2))
    slots.load(root, 0)
    step = static.DecodeStep(lm, compiled=True)
    dev = lm.input_device
    toks = torch.randint(100, vocab, (warmup + 2 * steps + 1, width), generator=g).to(dev)
    row_slot = torch.arange(width, device=dev)
    u = torch.rand(warmup + 2 * steps + 1, width, generator=g, dtype=torch.float64).to(dev)
    out = {}
    with timed(dev, out, "compile_seconds"):
        step(slots, toks[0], row_slot, u[0])
    for k in range(1, warmup):
        step(slots, toks[k], row_slot, u[k])
    with timed(dev, out):
        for k in range(warmup, warmup + steps):
            step(slots, toks[k], row_slot, u[k])
    device_ms = None
    if profile:
        def more():
            for k in range(warmup + steps, warmup + 2 * steps):
                step(slots, toks[k], row_slot, u[k])
        device_ms = profiled_ms(dev, more, steps)
    return {"compile_seconds": out["compile_seconds"], "wall_ms_per_step": 1000 * out["seconds"] / steps,
            "device_ms_per_step": device_ms, "slots": width, "compiled": step.fn is not step._step}


def peak_tflops(device, dtype, n=None, reps=10) -> float:
    """Achieved TFLOP/s of an n x n matmul on `device` in `dtype` (the yardstick for a model's
    achieved FLOP rate on the same device and dtype)."""
    n = n or (8192 if torch.device(device).type == "cuda" else 1024)
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    torch.matmul(a, b)
    out = {}
    with timed(device, out):
        for _ in range(reps):
            torch.matmul(a, b)
    return 2 * n ** 3 * reps / out["seconds"] / 1e12


def kl_bits(p, q) -> float:
    """KL(p || q) in bits over the same buckets (q floored at 1e-300 where p > 0)."""
    import numpy as np
    from scipy.special import rel_entr
    p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    return float(rel_entr(p, np.maximum(q, 1e-300)).sum() / np.log(2))


def steer_answers(lm, prompt_ids, space, target: float, bias: float | None = None) -> dict:
    """Make random weights answer: a constant added (LM head hook) to the logits of the first token of
    every surface form of every answer (bare and after a space), sized so those tokens hold `target`
    of the next-token mass at `prompt_ids` (closed form: m e^b / (1 - m + m e^b) = target), or the
    `bias` given (the same steering for every setting compared). A random model otherwise gives
    the answers no mass, and an exact readout ends after one forward where a real model's takes
    several (the answer's tokens, then the tokens that end it)."""
    from logitscope.kernels.engine.answers import _as_space
    from logitscope.kernels.engine.forward import next_logprobs
    tok = lm.tokenizer
    ids = sorted({t[0] for _, forms in _as_space(space).forms for f in forms for pre in ("", " ")
                  for t in [tok(pre + f, add_special_tokens=False)["input_ids"]] if t})
    if bias is None:
        m = float(next_logprobs(lm, [prompt_ids])[0][ids].double().exp().sum())
        bias = max(0.0, math.log(target * (1 - m) / (m * (1 - target)))) if 0 < m < target else 0.0
    head = lm.model.get_output_embeddings()
    add = torch.zeros(head.weight.shape[0], device=head.weight.device)
    add[ids] = bias
    head.register_forward_hook(lambda mod, args, out: out + add.to(out.dtype))
    return {"answer_mass_target": target, "answer_bias_nats": bias, "answer_first_tokens": len(ids)}
