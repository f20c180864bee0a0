"""Static slots and the captured decode step: decoding with fixed shapes inside a bucket (which
generation uses them: `compiled.py`).

An eager decode step dispatches every op from Python (hundreds a step; on a GPU that host time,
not the GPU's, sets the pace). Engines that decode near the roofline replay the step as one graph
over static shapes (gpt-fast, vLLM, SGLang, transformers' StaticCache). Here:

- **Static slots.** Key/value buffers `[slots, kv_heads, capacity, head_dim]` per layer, allocated
  once for a bucket (slots: a power of two >= the batch's rows; capacity: a power of two >= prompt +
  new tokens, at least 64; `load` writes a prompt into them in place, so their addresses never
  change); a boolean mask `[slots, capacity]` of each slot's real entries, each slot's next
  position `[slots]` and the column every slot writes next (`col`, one element) as device
  tensors. Every decode step gives every slot one token, so slots stay hole-free (only left
  padding) and one write column serves them all. Forks, keeps and drops are in-place gathers into
  the same buffers (`gather`): no shape changes inside a bucket. Rows with one history still share
  one slot.
- **The captured step** (`DecodeStep.__call__`): append one token to every slot (written at `col`
  by `StaticKV.update`), attention over the full capacity under a 4-D mask built on the device
  (padding, causality, the sliding window of Gemma-3's local layers), the LM head, the float32
  log-softmax, and generation's per-token table (draw, picked log-probs, entropies, top 5) for
  every row: one function with static shapes, compiled with `torch.compile(fullgraph=True,
  dynamic=False)` (a graph break would be a hidden host sync or data-dependent Python), replayed
  as CUDA graphs on a GPU (`mode="reduce-overhead"`). The host reads one table a step. The
  temperature and top-p are 0-d tensor inputs: one graph per form and bucket serves every value
  (`compiled.StepGraphs` keeps them).

Eager is the reference: the same function run uncompiled gives the same numbers as the eager
`Session` path (fp32, within 1e-5), and the compiled one equals it (tests/test_static.py).
"""
from __future__ import annotations

import inspect

import torch

from ...errors import UserError
from .forward import _softcap, attention_backends, body_and_head
from .sampling import transform_ops
from .table import step_table

MIN_CAPACITY = 64
BACKEND = None        # torch.compile's backend (None: inductor); tests of the wiring use "eager"


def bucket(n: int) -> int:
    """The power of two >= n (>= 1): slot counts and capacities come in these sizes, so a run sees
    a few shapes and the compiled step a few graphs."""
    return 1 << max(int(n) - 1, 0).bit_length()


def capacity_bucket(n: int) -> int:
    return max(MIN_CAPACITY, bucket(n))


def _static_kv_class():
    from transformers.cache_utils import DynamicLayer

    class StaticKV(DynamicLayer):
        """A layer over preallocated buffers: `update` writes the step's keys/values at the shared
        write column and returns the whole buffers (the 4-D mask hides what is not written)."""

        is_compileable = True

        def __init__(self, keys, values, col, capacity):
            super().__init__()
            self.keys, self.values, self.col, self.capacity = keys, values, col, capacity
            self.device, self.is_initialized = keys.device, True

        def update(self, key_states, value_states, *args, **kwargs):
            self.keys.index_copy_(2, self.col, key_states)
            self.values.index_copy_(2, self.col, value_states)
            return self.keys, self.values

        def get_seq_length(self) -> int:
            return self.capacity         # a constant (no device read); lengths live in StaticSlots

        def get_mask_sizes(self, query_length: int) -> tuple[int, int]:
            return self.capacity, 0

    return StaticKV


_STATIC_KV = None


def _mark_static(*tensors) -> None:
    """Tell dynamo these buffers keep their address (CUDA graphs then read them in place)."""
    for t in tensors:
        torch._dynamo.mark_static_address(t)


class StaticSlots:
    """The static cache of one bucket: `slots` rows of `capacity` positions on `lm`'s device."""

    def __init__(self, lm, slots: int, capacity: int):
        global _STATIC_KV
        if _STATIC_KV is None:
            _STATIC_KV = _static_kv_class()
        self.lm, self.slots, self.capacity = lm, int(slots), int(capacity)
        self.device = lm.input_device
        self.mask = torch.zeros(self.slots, self.capacity, dtype=torch.bool, device=self.device)
        self.positions = torch.zeros(self.slots, dtype=torch.long, device=self.device)
        self.col = torch.zeros(1, dtype=torch.long, device=self.device)
        self.used = 0                                     # columns written so far (host copy of col)
        self.kv: list[tuple[torch.Tensor, torch.Tensor]] = []
        _mark_static(self.mask, self.positions, self.col)

    @torch.inference_mode()
    def load(self, session, slot: int = 0) -> None:
        """Every slot becomes a copy of `session`'s slot `slot` (a prefilled prompt): its real
        entries at columns 0..len-1 (the rest zero), the write column after them. Written into the
        bucket's buffers (allocated at the first load), so their addresses never change: a captured
        graph reads them in place."""
        n = session.slot_len[slot]
        if n >= self.capacity:
            raise UserError(f"the prompt ({n} tokens) does not fit a static cache of {self.capacity} positions")
        m = session.mask.shape[1]
        if not self.kv:
            self.kv = [(self._buffer(layer.keys), self._buffer(layer.values)) for layer in session.cache.layers]
            self.cache = self._cache()
        for (kb, vb), layer in zip(self.kv, session.cache.layers):
            for buf, src in ((kb, layer.keys), (vb, layer.values)):
                buf[:, :, :n] = src[slot:slot + 1, :, m - n:m]
                buf[:, :, n:] = 0
        self.mask.zero_()
        self.mask[:, :n] = True
        self.positions.fill_(n)
        self.col.fill_(n)
        self.used = n

    def _buffer(self, like: torch.Tensor) -> torch.Tensor:
        buf = like.new_zeros(self.slots, like.shape[1], self.capacity, like.shape[3])
        _mark_static(buf)
        return buf

    def _cache(self):
        from transformers import DynamicCache
        cache = DynamicCache()
        cache.layer_class_to_replicate = None
        cache.layers = [_STATIC_KV(k, v, self.col, self.capacity) for k, v in self.kv]
        return cache

    @property
    def room(self) -> int:
        """Steps left before the buffers are full."""
        return self.capacity - self.used

    @torch.inference_mode()
    def gather(self, parents: torch.Tensor) -> None:
        """Slot j becomes a copy of slot parents[j] ([slots] on the device): forks, keeps and drops,
        in place (the buffers keep their address and shape)."""
        for kb, vb in self.kv:
            kb.copy_(kb.index_select(0, parents))
            vb.copy_(vb.index_select(0, parents))
        self.mask.copy_(self.mask.index_select(0, parents))
        self.positions.copy_(self.positions.index_select(0, parents))


def _attention_kind(model) -> str:
    impl = getattr(model.config, "_attn_implementation", None) or "eager"
    if impl not in ("sdpa", "eager"):
        raise UserError(f"the compiled step takes sdpa or eager attention (this model uses {impl})")
    return impl


def _windows(model):
    """(sliding window or None, layer types or None) of the model's text config."""
    cfg = model.config.get_text_config(decoder=True) if hasattr(model.config, "get_text_config") else model.config
    types = getattr(cfg, "layer_types", None)
    window = getattr(cfg, "sliding_window", None)
    if types is not None and "sliding_attention" not in types:
        window = None
    return window, types


def four_d_masks(mask: torch.Tensor, col: torch.Tensor, window, kind: str, dtype):
    """The 4-D attention masks [slots, 1, 1, capacity] of a one-token step whose query sits at column
    `col`: a slot's real entries (causality holds: nothing past `col` is real), and for sliding
    layers only columns > col - window (slots are hole-free, so columns count positions).
    Boolean for SDPA; additive (0 / dtype min) for eager attention."""
    full = mask[:, None, None, :]
    local = None
    if window is not None:
        cols = torch.arange(mask.shape[1], device=mask.device)
        local = full & (cols > col - window)[None, None, None, :]
    if kind == "eager":
        lo = torch.finfo(dtype).min
        full = torch.where(full, 0.0, lo).to(dtype)
        local = None if local is None else torch.where(local, 0.0, lo).to(dtype)
    return full, local


class DecodeStep:
    """One decode step over static slots, as one function (compiled or not):

        table = step(slots, ids, row_slot, uniforms)

    ids [slots] (each slot's new token), row_slot [rows] (each row's slot), uniforms [rows] (each
    row's uniform number for its draw; ignored when greedy) -> table [rows, 5 + 2 x TOP] float32
    (see table.step_table), the slots advanced by one token. The temperature and top-p enter the
    graph as 0-d tensors, so one compiled graph per `form` (greedy, T != 1, top-p < 1: what changes
    the ops) and bucket serves every value (a temperature sweep compiles once); steps that share
    `graphs` (the LM's engine) share them. `fn` is the function the last call ran (`_step`: eager)."""

    def __init__(self, lm, *, temperature=1.0, top_p=1.0, greedy=False, compiled=False, graphs=None):
        model = lm.model
        self.lm = lm
        self.body, self.head = body_and_head(model)
        self.kind = _attention_kind(model)
        self.window, self.types = _windows(model)
        self.cap = _softcap(model)
        self.temperature, self.top_p, self.greedy = float(temperature), float(top_p), bool(greedy)
        self.form = (self.greedy, self.temperature != 1.0, self.top_p < 1.0)
        dev = lm.input_device
        self.values = (torch.tensor(self.temperature, dtype=torch.float32, device=dev),
                       torch.tensor(1 - self.top_p, dtype=torch.float32, device=dev))
        params = inspect.signature(self.body.forward).parameters
        self.cache_arg = "cache" if "cache" in params else "past_key_values"
        self.pass_cache_position = "cache_position" in params
        self.dtype = next(model.parameters()).dtype
        self.compiled = bool(compiled)
        if compiled and graphs is None:
            from .compiled import StepGraphs
            graphs = StepGraphs()
        self.graphs = graphs if compiled else None
        self._step = self._run                    # one object: `fn is _step` says the last call ran eagerly
        self.fn = self._step

    def __call__(self, slots: StaticSlots, ids, row_slot, uniforms):
        if slots.room < 1:
            raise UserError(f"the static cache is full ({slots.capacity} positions)")
        args = (slots.cache, slots.mask, slots.positions, slots.col, *self.values, ids, row_slot, uniforms)
        key = (self.form, slots.slots, slots.capacity)
        fn = (self.graphs.get(key, self) if self.compiled else None) or self._step
        with torch.inference_mode(), attention_backends(slots.device):
            try:
                table = fn(*args)
            except UserError:
                raise
            except Exception as exc:                  # a compile failure: the same step, eager
                if fn is self._step:
                    raise
                from ...progress import note
                note(f"{self.lm.name}: the decode step did not compile ({_reason(exc)}); decoding eagerly")
                self.graphs.failed(key)
                fn = self._step
                table = fn(*args)
        self.fn = fn
        slots.used += 1
        return table

    def _run(self, cache, mask, positions, col, temperature, cut, ids, row_slot, uniforms):
        mask.index_fill_(1, col, True)
        full, local = four_d_masks(mask, col, self.window, self.kind, self.dtype)
        if local is None:
            attn = full
        elif self.types is not None:              # Gemma-3: local and global layers, one mask each
            attn = {"full_attention": full, "sliding_attention": local}
        else:                                     # a window on every layer (Mistral-style)
            attn = local
        kwargs = {self.cache_arg: cache, "use_cache": True}
        if self.pass_cache_position:
            kwargs["cache_position"] = col
        out = self.body(input_ids=ids[:, None], attention_mask=attn, position_ids=positions[:, None], **kwargs)
        positions.add_(1)
        col.add_(1)
        logits = self.head(out.last_hidden_state[:, -1])
        if self.cap:                              # in the model's dtype, as its forward and head_logits do
            logits = torch.tanh(logits / self.cap) * self.cap
        model_lp = torch.log_softmax(logits.float(), dim=-1)
        lp = transform_ops(model_lp, temperature, cut, *self.form[1:])
        return step_table(model_lp, lp, row_slot, None if self.greedy else uniforms)


def _reason(exc: BaseException) -> str:
    """The root cause of a compile failure in one line (dynamo wraps the backend's error)."""
    root = exc
    while getattr(root, "inner_exception", None) or root.__cause__:
        root = getattr(root, "inner_exception", None) or root.__cause__
    lines = str(root).strip().splitlines()
    return f"{type(root).__name__}: {lines[0][:200]}" if lines else type(root).__name__
