"""What every benchmark shares: the model options (a real model, or a shipped shape with random
weights built on the device), timing that waits for the device, memory peaks, and one JSON line per
result (so `gpu.sh` collects one file).

    --model embedded:aligned | DIR | ...      a real model
    --random-weights smollm2-1.7b             a shipped shape (logitscope/configs) with random weights
    --tokenizer DIR                           the real tokenizer for it (default: the converted
                                              embedded:aligned, SmolLM2's, from this machine's cache)
    --override num_hidden_layers=2,...        config fields (a quick CPU check of a GPU script)
    --device cuda --dtype bf16 --json-out F
"""
from __future__ import annotations

import json
import resource
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import torch


def add_model_args(ap, default_model="embedded:aligned"):
    ap.add_argument("--model", default=default_model, help="a model spec (ignored with --random-weights)")
    ap.add_argument("--random-weights", default=None, metavar="SHAPE",
                    help="a shipped shape with random weights: smollm2-1.7b, llama-3.1-8b, qwen2.5-7b, ...")
    ap.add_argument("--tokenizer", default=None, help="tokenizer directory for --random-weights")
    ap.add_argument("--override", default="", help="config fields for --random-weights: key=value,...")
    ap.add_argument("--device", default=None, help="cpu | cuda (default: cuda if available)")
    ap.add_argument("--dtype", default=None, help="fp32 | bf16 | fp16 (default: fp32 on CPU, bf16 on CUDA)")
    ap.add_argument("--quantize", default=None, choices=[None, "fp8", "int8"])
    ap.add_argument("--json-out", default=None, help="append one JSON line per result to this file")


def default_tokenizer() -> str:
    """SmolLM2's tokenizer (the one of every SmolLM2 size), from the converted embedded:aligned."""
    from logitscope.kernels.models.embedded import ensure_embedded
    from logitscope.kernels.models.registry import lookup
    return str(ensure_embedded(lookup("embedded:aligned").hub_id, log=lambda m: print(m, file=sys.stderr)))


def _overrides(text: str) -> dict:
    out = {}
    for item in filter(None, text.split(",")):
        k, v = item.split("=")
        out[k.strip()] = json.loads(v)
    return out


def load(args):
    """The LM the options describe, with the device and dtype it runs on."""
    from logitscope.kernels.models.loading import default_device, load_model, torch_dtype
    device = args.device or default_device()
    if args.random_weights:
        from logitscope.testing import shaped_lm
        lm = shaped_lm(args.random_weights, args.tokenizer or default_tokenizer(), device=device,
                       dtype=torch_dtype(args.dtype, device), **_overrides(args.override))
        if args.quantize:
            from logitscope.kernels.models.quant import quantize_model
            quantize_model(lm.model, args.quantize)
            lm.info["quantize"] = args.quantize
        return lm
    return load_model(args.model, device=device, dtype=args.dtype, quantize=args.quantize,
                      log=lambda m: print(m, file=sys.stderr))


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


def describe(lm) -> dict:
    dev = str(lm.input_device)
    name = torch.cuda.get_device_name(lm.input_device) if lm.input_device.type == "cuda" else "cpu"
    return {"model": lm.spec, "device": dev, "device_name": name, "dtype": lm.info.get("dtype"),
            "quantize": lm.info.get("quantize") or "none", "torch": torch.__version__,
            "params": sum(p.numel() for p in lm.model.parameters())}


def emit(args, bench: str, record: dict) -> None:
    """Print a result and append it as one JSON line to --json-out."""
    rec = {"bench": bench, **record}
    print(json.dumps(rec, default=float))
    if getattr(args, "json_out", None):
        Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
        with open(args.json_out, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(rec, default=float) + "\n")


def device_time_ms(prof) -> float | None:
    """Total time of the device's kernels in a torch.profiler run (None without a CUDA activity)."""
    total, seen = 0.0, False
    for evt in prof.key_averages():
        t = getattr(evt, "self_device_time_total", None)
        if t is None:
            t = getattr(evt, "self_cuda_time_total", 0.0)
        if getattr(evt, "device_type", None) is not None and "CUDA" in str(evt.device_type):
            seen = True
        total += t or 0.0
    return total / 1000.0 if seen or total else None
