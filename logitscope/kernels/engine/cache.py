"""KV-cache helpers: growing layers, and new caches that select rows of a cache without touching it.

transformers' `DynamicLayer.update` concatenates into new tensors: every append copies the
whole cache (and on CPU faults in fresh pages). A `GrowingLayer` keeps its keys/values as views
of buffers with spare room along the sequence and writes new tokens in place. A cache built by
`select_rows` holds new tensors, so branching from a session's cache leaves the session intact;
`GrowingLayer.borrow` shares a layer's buffers with a token-tree expansion, which only writes
past the owner's length (slots the owner neither sees nor keeps).
"""
from __future__ import annotations

import copy

import torch


def _growing_layer_class():
    from transformers.cache_utils import DynamicLayer

    class GrowingLayer(DynamicLayer):
        """A full (never window-truncated) layer appended in place: keys/values are views
        `buffer[:, :, :length]` of buffers with room to grow (x1.5 + 64 slots when full)."""

        _kbuf = _vbuf = None

        def update(self, key_states, value_states, *args, **kwargs):
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
            n, w = self.get_seq_length(), key_states.shape[-2]
            if not self._fits(n, w, key_states):
                self._regrow(n, n + w, key_states)
            self._kbuf[:, :, n:n + w] = key_states
            self._vbuf[:, :, n:n + w] = value_states
            self.keys, self.values = self._kbuf[:, :, :n + w], self._vbuf[:, :, :n + w]
            return self.keys, self.values

        def _on_buffer(self) -> bool:
            """Are keys/values still the views of this layer's buffers (not replaced by a gather)?"""
            b = self._kbuf
            return (b is not None and self.keys.data_ptr() == b.data_ptr() and self.keys.stride() == b.stride()
                    and self.values.data_ptr() == self._vbuf.data_ptr())

        def _fits(self, n, w, k) -> bool:
            b = self._kbuf
            return (b is not None and n + w <= b.shape[2] and b.shape[:2] == k.shape[:2] and b.shape[3] == k.shape[3]
                    and (n == 0 or self._on_buffer()))

        def _regrow(self, n, need, k):
            cap = int(need * 1.5) + 64
            shape = (k.shape[0], k.shape[1], cap, k.shape[3])
            kb, vb = k.new_empty(shape), k.new_empty(shape)
            if n:
                kb[:, :, :n], vb[:, :, :n] = self.keys, self.values
            self._kbuf, self._vbuf = kb, vb

        def take_rows(self, idx):
            """A copy holding rows `idx`, taken from the whole buffers so the copy keeps the room."""
            twin = copy.copy(self)
            if self._on_buffer():
                n = self.keys.shape[2]
                twin._kbuf, twin._vbuf = self._kbuf.index_select(0, idx), self._vbuf.index_select(0, idx)
                twin.keys, twin.values = twin._kbuf[:, :, :n], twin._vbuf[:, :, :n]
            else:
                twin.set(self.keys.index_select(0, idx), self.values.index_select(0, idx))
            return twin

        def keep_in_place(self, keys, values) -> None:
            """New contents (a compaction's gather) copied into this layer's own buffers, which are
            kept (no new allocation, room to grow stays); a layer without buffers takes the tensors."""
            n = keys.shape[2]
            b = self._kbuf
            if b is not None and self._on_buffer() and b.shape[:2] == keys.shape[:2] and n <= b.shape[2]:
                b[:, :, :n].copy_(keys)
                self._vbuf[:, :, :n].copy_(values)
                self.keys, self.values = b[:, :, :n], self._vbuf[:, :, :n]
            else:
                self.set(keys, values)

        def set(self, keys, values) -> None:
            """New key/value tensors (a gather, a row selection): the old buffers are let go."""
            self.keys, self.values, self._kbuf, self._vbuf = keys, values, None, None

        @classmethod
        def borrow(cls, keys, values, owner=None):
            """A layer over these tensors; when they are `owner`'s current views, appends go
            into `owner`'s spare room (past its length) instead of copying."""
            layer = cls()
            if keys is None:
                return layer
            layer.lazy_initialization(keys, values)
            layer.keys, layer.values = keys, values
            if isinstance(owner, cls) and owner.keys is keys and owner._kbuf is not None:
                layer._kbuf, layer._vbuf = owner._kbuf, owner._vbuf
            return layer

    return GrowingLayer


_GROWING = None


def growing_layer():
    """The GrowingLayer class (built on first use: no transformers import at package import)."""
    global _GROWING
    if _GROWING is None:
        _GROWING = _growing_layer_class()
    return _GROWING


def growing_cache():
    """An empty DynamicCache whose layers (created on first update) are GrowingLayers."""
    from transformers import DynamicCache
    cache = DynamicCache()
    cache.layer_class_to_replicate = growing_layer()
    return cache


def set_kv(layer, keys, values) -> None:
    """Replace a layer's keys/values (dropping a GrowingLayer's buffers)."""
    if hasattr(layer, "set"):
        layer.set(keys, values)
    else:
        layer.keys, layer.values = keys, values


def select_rows(cache, rows: torch.Tensor):
    """A new cache whose row i is row `rows[i]` of `cache` (rows may repeat: forking)."""
    new = copy.copy(cache)
    new.layers = []
    for layer in cache.layers:
        if not (getattr(layer, "is_initialized", False) and layer.keys is not None and layer.keys.numel()):
            new.layers.append(copy.copy(layer))
        elif hasattr(layer, "take_rows"):
            new.layers.append(layer.take_rows(rows.to(layer.keys.device)))
        else:
            twin = copy.copy(layer)
            idx = rows.to(layer.keys.device)
            twin.keys, twin.values = layer.keys.index_select(0, idx), layer.values.index_select(0, idx)
            new.layers.append(twin)
    return new


def kv_bytes_per_token(config, dtype_bytes: int = 2) -> int:
    """Bytes of K and V per token per row over all layers (full-attention accounting)."""
    cfg = config.get_text_config(decoder=True) if hasattr(config, "get_text_config") else config
    heads = getattr(cfg, "num_key_value_heads", None) or cfg.num_attention_heads
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    return 2 * cfg.num_hidden_layers * heads * head_dim * dtype_bytes
