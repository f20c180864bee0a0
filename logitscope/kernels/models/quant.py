"""Weight quantisation with optimum-quanto, and device maps for sharding (accelerate).

`--quantize fp8|int8` quantises the weights of every linear layer but the LM head (qfloat8 /
qint8; activations stay in the model dtype) with `quantize` + `freeze` after loading, or through
`QuantoConfig` at load time when a `device_map` places the layers. The LM head stays in the model
dtype because every answer probability is read from its logits.
"""
from __future__ import annotations

import json
from pathlib import Path

from ...errors import UserError, need_file

_WEIGHTS = {"fp8": "float8", "int8": "int8"}


def _need_quanto():
    try:
        import optimum.quanto  # noqa: F401
    except ImportError:
        raise UserError('quantisation needs optimum-quanto: pip install -e ".[quant]"') from None


def check_kind(kind: str) -> None:
    if kind not in _WEIGHTS:
        raise UserError(f"unknown quantisation '{kind}'; choose fp8, int8 or none")


def quant_kernels(cuda: bool) -> str:
    """Which quantised matmul runs, chosen so no kernel is compiled on the user's machine. On CUDA
    (compute capability >= 8) quanto packs fp8 weights for its marlin kernel, a JIT build that needs
    nvcc + ninja (minutes; it fails on a GPU box without a toolchain): its CUDA extension is left out,
    so each quantised matmul dequantises the weights to the activations' dtype (quanto's portable
    path). LOGITSCOPE_QUANTO_KERNELS=1 keeps quanto's CUDA kernels for a machine that can build them."""
    import os
    if not cuda:
        return "quanto (CPU)"
    if os.environ.get("LOGITSCOPE_QUANTO_KERNELS") == "1":
        return "quanto CUDA kernels (built on first use: nvcc + ninja)"
    from optimum.quanto.library.extensions import extension
    extension._extensions.pop("quanto_cuda", None)
    return "quanto dequantise-then-matmul (no kernel build)"


def quanto_config(kind: str):
    """A `QuantoConfig` for fp8 | int8 weights (for loading with a device_map)."""
    check_kind(kind)
    _need_quanto()
    from transformers import QuantoConfig
    return QuantoConfig(weights=_WEIGHTS[kind], modules_to_not_convert=["lm_head", "score"])


def quantize_model(model, kind: str):
    """Quantise a loaded model's linear weights in place (quanto quantize + freeze)."""
    check_kind(kind)
    _need_quanto()
    from optimum.quanto import freeze, qfloat8, qint8, quantize
    quantize(model, weights={"fp8": qfloat8, "int8": qint8}[kind], exclude=["lm_head", "score"])
    freeze(model)
    return model


def weight_bytes(model) -> int:
    """Bytes held by the model's parameters and buffers (quantised tensors: their data + scales)."""
    total = 0
    for v in model.state_dict().values():
        if hasattr(v, "__tensor_flatten__"):
            names, _ = v.__tensor_flatten__()
            total += sum(getattr(v, n).numel() * getattr(v, n).element_size() for n in names)
        elif getattr(v, "device", None) is not None and v.device.type != "meta":
            total += v.numel() * v.element_size()
    return total


def parse_max_memory(spec: str | None) -> dict | None:
    """`0=40GiB,1=40GiB,cpu=100GiB` -> {0: "40GiB", 1: "40GiB", "cpu": "100GiB"}."""
    if not spec:
        return None
    out = {}
    for part in spec.split(","):
        key, eq, val = part.partition("=")
        if not eq or not val.strip():
            raise UserError(f"--max-memory takes DEVICE=SIZE pairs like 0=40GiB,cpu=100GiB (got {part!r})")
        key = key.strip()
        out[int(key) if key.isdigit() else key] = val.strip()
    return out


def parse_device_map(spec: str | None):
    """auto | balanced | balanced_low_0 | sequential | a JSON file {module: device}."""
    if spec is None or isinstance(spec, dict) or spec in ("auto", "balanced", "balanced_low_0", "sequential"):
        return spec
    p = Path(spec)
    need_file(spec, "--device-map", "auto, balanced, sequential or a JSON file")
    try:
        m = json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise UserError(f"{spec}: not JSON ({exc.msg})") from None
    if not isinstance(m, dict):
        raise UserError(f"{spec}: a device map is a JSON object {{module name: device}}")
    return m
