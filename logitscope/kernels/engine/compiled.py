"""Which decoding a generation gets: the compiled step on static slots (`static.py`) or the eager
session loop, from `--compile auto|on|off` (the LM's setting, or `generate(..., compile=)`), and the
per-LM engine that keeps the slot buffers and compiled steps between calls.

Why `torch.compile(mode="reduce-overhead")` and not a hand-captured `torch.cuda.CUDAGraph` per
bucket: the same function compiles on the CPU (inductor; where the tests prove one graph and no
recompiles) and replays as CUDA graphs on a GPU, with cudagraph trees managing one memory pool
and a graph per bucket shape; a hand capture would need static copies of every input, a warm-up
stream and its own pool per bucket, and could not be checked on the CPU at all.
"""
from __future__ import annotations

import torch

from ...errors import UserError
from .static import DecodeStep, StaticSlots, bucket, capacity_bucket


class StaticEngine:
    """One LM's static decoding: its slot buffers per bucket (kept, so a later batch of the same
    shape reuses them and the captured graph reads the same addresses) and its decode steps per
    sampling setting (compiled once each)."""

    def __init__(self, lm, compiled: bool):
        self.lm, self.compiled = lm, compiled
        self._slots: dict = {}
        self._steps: dict = {}

    def slots(self, width: int, need: int) -> StaticSlots:
        key = (bucket(width), capacity_bucket(need + 1))
        if key not in self._slots:
            self._slots.clear()                      # one bucket's buffers at a time
            self._slots[key] = StaticSlots(self.lm, *key)
        return self._slots[key]

    def step(self, temperature, top_p, greedy) -> DecodeStep:
        key = (float(temperature), float(top_p), bool(greedy))
        if key not in self._steps:
            self._steps[key] = DecodeStep(self.lm, temperature=temperature, top_p=top_p, greedy=greedy,
                                          compiled=self.compiled)
        return self._steps[key]


COMPILE_CHOICES = ("auto", "on", "off")


def compile_wanted(setting, device) -> bool:
    """--compile: "on", "off", or "auto" (on for CUDA, off elsewhere: compiling takes minutes on a
    few CPU cores and the eager step is not host-bound there); True/False pass through."""
    if setting is None:
        setting = "auto"
    if isinstance(setting, bool):
        return setting
    if setting not in COMPILE_CHOICES:
        raise UserError(f"--compile takes {', '.join(COMPILE_CHOICES)} (got {setting!r})")
    return setting == "on" or (setting == "auto" and torch.device(device).type == "cuda")


def unsupported(lm) -> str | None:
    """Why this LM cannot decode on static slots (None: it can)."""
    model = lm.model
    if getattr(lm, "is_oracle", False):
        return "the uniform oracle has no forward pass"
    devices = {str(d) for d in (getattr(model, "hf_device_map", None) or {}).values()}
    if len(devices) > 1:
        return "the model is split over devices (--device-map)"
    impl = getattr(model.config, "_attn_implementation", None) or "eager"
    if impl not in ("sdpa", "eager"):
        return f"its attention implementation is {impl} (the step takes sdpa or eager)"
    cfg = model.config.get_text_config(decoder=True) if hasattr(model.config, "get_text_config") else model.config
    kinds = set(getattr(cfg, "layer_types", None) or ["full_attention"])
    if not kinds <= {"full_attention", "sliding_attention"}:
        return f"its layers include {sorted(kinds - {'full_attention', 'sliding_attention'})}"
    return None


def use_static(lm, setting=None) -> StaticEngine | None:
    """The LM's static engine when compiling is wanted (`setting`, else the LM's `compile`), else
    None (the eager session loop). A model the step cannot take is said in one line, once."""
    setting = getattr(lm, "compile", "auto") if setting is None else setting
    if not compile_wanted(setting, lm.input_device):
        return None
    engine = getattr(lm, "_static_engine", None)
    if engine is not None:
        return engine
    why = unsupported(lm)
    if why:
        if not getattr(lm, "_static_refused", False):
            from ...progress import note
            note(f"{lm.name}: decoding eagerly, not with the compiled step: {why}")
            lm._static_refused = True
        return None
    lm._static_engine = StaticEngine(lm, compiled=True)
    return lm._static_engine
