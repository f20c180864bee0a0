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

import types
from collections import OrderedDict

import torch

from ...errors import UserError
from . import static
from .static import DecodeStep, StaticSlots, bucket, capacity_bucket

GRAPHS = 8     # compiled steps an LM keeps: every form (greedy x T != 1 x top-p < 1) of one bucket


class StepGraphs:
    """An LM's compiled decode steps, one per (form, bucket) whatever the temperature and top-p
    values (`DecodeStep`), the least recently used dropped past `limit`.

    Each is `torch.compile` of its own copy of the step's code object: dynamo keeps compiled graphs
    per code object, at most `recompile_limit` (8) of them, and one code object shared by every
    setting and bucket fell back to eager past the 8th. Here a code object holds one graph, and a
    dropped one is freed: `torch._dynamo.reset_code` releases its cache entry, the compiled function
    dynamo put in the module's globals and the graph (without it they live on: dynamo's map from
    compiled to original code keeps them). `limit` = 8 holds every form of one bucket, or the four
    sampled forms (T = 1 or not x top-p = 1 or not) on two buckets; a CUDA graph that cudagraph
    trees recorded for a dropped one stays in their shared pool until no compiled step is left."""

    def __init__(self, limit: int = GRAPHS):
        self.limit = int(limit)
        self._graphs: OrderedDict = OrderedDict()          # key -> [compiled function or None, code]

    def get(self, key, step):
        """The compiled function of `key` = (form, slots, capacity), made from `step` the first time
        (compiled at its first call); None: it did not compile (`failed`)."""
        if key in self._graphs:
            self._graphs.move_to_end(key)
            return self._graphs[key][0]
        while len(self._graphs) >= self.limit:
            torch._dynamo.reset_code(self._graphs.popitem(last=False)[1][1])
        name = "decode_step_" + "_".join(str(int(x)) for x in (*key[0], *key[1:]))
        fn = _own_code(step._run, name)
        mode = "reduce-overhead" if step.lm.input_device.type == "cuda" else None
        extra = {"mode": mode} if static.BACKEND is None else {"backend": static.BACKEND}
        self._graphs[key] = [torch.compile(fn, fullgraph=True, dynamic=False, **extra), fn.__code__]
        return self._graphs[key][0]

    def failed(self, key) -> None:
        self._graphs[key][0] = None

    def clear(self) -> None:
        while self._graphs:
            torch._dynamo.reset_code(self._graphs.popitem()[1][1])

    def __len__(self) -> int:
        return len(self._graphs)


def _own_code(method, name: str):
    """`method` on a copy of its function's code object, named `name`."""
    f = method.__func__
    code = f.__code__.replace(co_name=name)
    return types.MethodType(types.FunctionType(code, f.__globals__, name, f.__defaults__, f.__closure__),
                            method.__self__)


class StaticEngine:
    """One LM's static decoding: its slot buffers (one bucket's at a time, kept, so a later batch of
    the same shape loads into them and the captured graph reads the same addresses), its decode
    steps per sampling setting, and the compiled graphs they share (`StepGraphs`: one per form and
    bucket, whatever the temperature and top-p)."""

    def __init__(self, lm, compiled: bool):
        self.lm, self.compiled = lm, compiled
        self._slots: dict = {}
        self._steps: dict = {}
        self.graphs = StepGraphs() if compiled else None

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
                                          compiled=self.compiled, graphs=self.graphs)
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
