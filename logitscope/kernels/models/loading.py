"""`load_model(spec) -> LM`: embedded alias | registry name | local dir | .gguf | hub id | uniform."""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import UserError
from . import registry
from .embedded import EMBEDDED, ensure_embedded, ensure_gguf
from .formats import Format
from .oracle import UniformLM

_DTYPES = {"fp32": "float32", "float32": "float32", "bf16": "bfloat16", "bfloat16": "bfloat16",
           "fp16": "float16", "float16": "float16"}


@dataclass
class LM:
    """A causal LM with its tokenizer and prompt format; everything downstream takes one."""
    model: Any
    tokenizer: Any
    format: Format
    name: str
    spec: str
    info: dict = field(default_factory=dict)
    is_oracle: bool = False
    compile: str = "auto"     # the decode step: compiled on static slots (on), eager (off), on for CUDA (auto)

    def encode(self, turns: list[str] | str, infix: str = "") -> list[int]:
        """Token ids of a prompt (or conversation) in this LM's format, with the infix."""
        return self.format.encode(self.tokenizer, turns, infix)

    @property
    def input_device(self):
        """Where input ids go: the embedding's execution device (not `meta` when it is offloaded)."""
        from ..engine.forward import module_device
        return module_device(self.model.get_input_embeddings())

    @property
    def pad_id(self) -> int:
        tok = self.tokenizer
        for cand in (tok.pad_token_id, tok.eos_token_id, 0):
            if cand is not None:
                return int(cand)
        return 0


def _log(msg: str) -> None:
    print(msg, file=sys.stderr)


def resolve(spec: str) -> tuple[str, str | None, str]:
    """(kind, format, target): kind in uniform|embedded|dir|gguf|hub; target is what to load."""
    if not spec or not spec.strip():
        raise UserError("empty model name")
    entry = registry.lookup(spec)
    if entry is not None:
        if entry.kind == "oracle":
            return "uniform", None, spec
        if entry.hub_id in EMBEDDED:
            return "embedded", entry.format, entry.hub_id
        return "hub", entry.format, entry.hub_id
    if spec.startswith("embedded:"):
        raise registry.unknown_model(spec)
    path = Path(spec).expanduser()
    if path.is_dir():
        return "dir", None, str(path)
    if spec.endswith(".gguf"):
        if not path.is_file():
            raise UserError(f"no such GGUF file: {spec}")
        return "gguf", None, str(path)
    if path.exists():
        raise UserError(f"{spec} is a file, not a model directory (--model takes a model directory, a .gguf file, "
                        "an embedded alias, a registry name or a hub id)")
    if registry.looks_like_registry_name(spec):
        raise registry.unknown_model(spec)
    if spec.count("/") == 1 and not path.exists() and not spec.startswith(("/", ".", "~")):
        return "hub", None, spec
    raise UserError(f"no such model directory: {spec}")


def _hub_snapshot(hub_id: str) -> str:
    """The local snapshot directory of a hub id; downloads only if LOGITSCOPE_DOWNLOAD=1."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError
    allow = os.environ.get("LOGITSCOPE_DOWNLOAD") == "1"
    try:
        return snapshot_download(hub_id, local_files_only=not allow)
    except LocalEntryNotFoundError:
        raise UserError(
            f"model '{hub_id}' is not in the local Hugging Face cache; run `hf download {hub_id}` "
            "where the hub is reachable (or set LOGITSCOPE_DOWNLOAD=1), or pass a local directory") from None
    except Exception as exc:  # gated repo, network refused, bad id
        raise UserError(f"could not fetch model '{hub_id}': {type(exc).__name__}: "
                        f"{str(exc).splitlines()[0] if str(exc) else ''}") from None


def from_pretrained(cls, path, dtype, device, device_map=None, max_memory=None, quantize=None, offload_folder=None):
    """`cls.from_pretrained` placed and quantised: with a device map, accelerate places the shards
    (disk offload gets a folder) and quanto quantises while loading; without one, the model goes
    to `device` and its linear weights are quantised there."""
    if str(device).startswith("cpu") and not device_map:
        cpu_gqa()
    kwargs = {"dtype": dtype}
    if device_map:
        kwargs["device_map"] = device_map
        if max_memory:
            kwargs["max_memory"] = max_memory
        if _uses_disk(device_map):
            import tempfile
            kwargs["offload_folder"] = offload_folder or tempfile.mkdtemp(prefix="logitscope-offload-")
        if quantize:
            from .quant import quanto_config
            kwargs["quantization_config"] = quanto_config(quantize)
    kernel = None
    if quantize:
        import torch

        from .quant import quant_kernels
        kernel = quant_kernels(torch.cuda.is_available() and "cpu" not in str(device or "cuda"))
    model = cls.from_pretrained(path, **kwargs)
    model._logitscope_quant_kernel = kernel
    if not device_map:
        model.to(device)
        if quantize:
            from .quant import quantize_model
            quantize_model(model, quantize)
    return model


def cpu_gqa() -> None:
    """On CPU, let SDPA attend grouped K/V heads directly (`enable_gqa`) even with an attention
    mask, instead of transformers' `repeat_kv` copying the whole KV cache n_rep times per layer
    and step; that copy was 30% of a CPU session's time (measured in bench_session: 64.9 s ->
    52.5 s, same log-probs). transformers decides this in `use_gqa_in_sdpa`; we wrap it so that it
    says yes for CPU tensors only: a CUDA model in the same process keeps transformers' own rule
    (a masked GQA call there falls back to the math kernel). Process environment untouched."""
    from transformers.integrations import sdpa_attention as sa
    if getattr(sa.use_gqa_in_sdpa, "_logitscope_cpu", False):
        return
    original = sa.use_gqa_in_sdpa

    def use_gqa_in_sdpa(attention_mask, key, *rest, **kw):      # (mask, key) before transformers 5.2x, then + value
        if key.device.type == "cpu" and "TRANSFORMERS_SDPA_FORCE_GQA" not in os.environ:   # a user's setting wins
            return True
        return original(attention_mask, key, *rest, **kw)
    use_gqa_in_sdpa._logitscope_cpu = True
    use_gqa_in_sdpa.original = original
    sa.use_gqa_in_sdpa = use_gqa_in_sdpa


TOKENIZER_FILES = (("tokenizer.json",), ("tokenizer.model",), ("vocab.json", "merges.txt"), ("spiece.model",),
                   ("sentencepiece.bpe.model",))


def check_model_dir(path: str) -> None:
    """One clear line when a model directory lacks its config or its tokenizer files."""
    p = Path(path)
    missing = []
    if not (p / "config.json").is_file():
        missing.append("config.json")
    if not any(all((p / f).is_file() for f in group) for group in TOKENIZER_FILES):
        missing.append("tokenizer files (tokenizer.json, tokenizer.model, or vocab.json + merges.txt)")
    if missing:
        raise UserError(f"model directory {path} lacks {' and '.join(missing)}")


def check_device(device) -> None:
    """One clear line for a device this machine does not have (naming the ones it has)."""
    if device is None:
        return
    import torch
    try:
        d = torch.device(device)
    except (RuntimeError, TypeError):
        raise UserError(f"unknown device '{device}'; use cpu, cuda or cuda:N") from None
    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    have = ["cpu"] + [f"cuda:{i}" for i in range(n)]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        have.append("mps")
    if d.type == "cuda" and (n == 0 or (d.index is not None and d.index >= n)):
        what = "no CUDA device is available" if n == 0 else f"there is no {device}"
        raise UserError(f"--device {device}: {what} on this machine (available: {', '.join(have)})")
    if d.type not in ("cpu", "cuda") and d.type not in have:
        raise UserError(f"--device {device}: not available on this machine (available: {', '.join(have)})")


def _uses_disk(device_map) -> bool:
    return isinstance(device_map, dict) and "disk" in device_map.values()


def distributed_device():
    """Under `accelerate launch` / `torchrun` with GPUs, each process uses its own GPU."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        import torch
        if torch.cuda.is_available():
            return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    return None


def default_device() -> str:
    import torch
    return "cuda" if torch.cuda.is_available() else "cpu"


def torch_dtype(dtype, device: str):
    import torch
    if dtype is None:
        return torch.float32 if str(device).startswith("cpu") else torch.bfloat16
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in _DTYPES:
        raise UserError(f"unknown dtype '{dtype}'; choose fp32, bf16 or fp16")
    return getattr(torch, _DTYPES[dtype])


def load_model(spec: str, *, dtype=None, device=None, device_map=None, quantize=None,
               fmt: str | None = None, max_memory=None, offload_folder=None, compile="auto", log=_log) -> LM | UniformLM:
    """Load a model for exact next-token work (eval mode, inference only).

    spec: `embedded:base` | `embedded:aligned` | a registry name (`probe models`) | a local
    model directory | a `.gguf` file | a hub id already in the local HF cache | `uniform`.
    compile: "auto" | "on" | "off": generation's decode step compiled on static slots
    (`engine/static.py`; auto = on for CUDA, off on the CPU, where compiling takes minutes).
    """
    from ..engine.compiled import compile_wanted
    compile = compile or "auto"
    compile_wanted(compile, "cpu")                  # a bad value is one line before anything loads
    kind, reg_fmt, target = resolve(spec)
    from .quant import parse_device_map, parse_max_memory
    quantize = None if quantize in (None, "none") else quantize
    device_map = parse_device_map(device_map)
    max_memory = parse_max_memory(max_memory) if isinstance(max_memory, str) else max_memory
    if device is None and device_map is None:
        device = distributed_device()
    if kind == "uniform":
        return UniformLM()
    check_device(device)
    if kind == "dir":
        check_model_dir(target)
    t0 = time.perf_counter()
    if kind == "embedded":
        path = str(ensure_embedded(target, log=log))
    elif kind == "gguf":
        path = str(ensure_gguf(Path(target), log=log))
    elif kind == "hub":
        path = _hub_snapshot(target)
    else:
        path = target
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    device = device or (None if device_map else default_device())
    tdtype = torch_dtype(dtype, device or default_device())
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = from_pretrained(AutoModelForCausalLM, path, tdtype, device, device_map, max_memory, quantize,
                                offload_folder)
    except UserError:
        raise
    except (OSError, ValueError) as exc:
        raise UserError(f"could not load model '{spec}' from {path}: {str(exc).splitlines()[0]}") from None
    model.eval()
    model.requires_grad_(False)
    fmt_name = fmt or reg_fmt or "raw"
    info = {"spec": spec, "path": path, "dtype": str(tdtype).replace("torch.", ""),
            "device": str(device) if device else f"device_map={device_map if isinstance(device_map, str) else 'file'}",
            "quantize": quantize or "none", "format": fmt_name, "compile": compile,
            **({"quant_kernel": model._logitscope_quant_kernel} if quantize else {}),
            "load_seconds": round(time.perf_counter() - t0, 2)}
    if quantize:
        log(f"{spec}: {quantize} weights, {info['quant_kernel']}")
    prov = Path(path) / "provenance.json"
    if prov.exists():
        import json
        info["gguf_sha256"] = json.loads(prov.read_text()).get("gguf_sha256")
    return LM(model=model, tokenizer=tokenizer, format=Format(fmt_name), name=spec, spec=spec, info=info, compile=compile)

