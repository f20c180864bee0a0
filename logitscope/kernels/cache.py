"""KV-cache helpers: new caches that select/repeat rows of a `DynamicCache` without touching it.

transformers' `DynamicLayer.update` concatenates into new tensors, so a cache built here shares
no mutable state with its source: branching from a session's cache leaves the session intact.
"""
from __future__ import annotations

import copy

import torch


def select_rows(cache, rows: torch.Tensor):
    """A new cache whose row i is row `rows[i]` of `cache` (rows may repeat: forking)."""
    new = copy.copy(cache)
    new.layers = []
    for layer in cache.layers:
        twin = copy.copy(layer)
        if getattr(layer, "is_initialized", False) and layer.keys is not None and layer.keys.numel():
            idx = rows.to(layer.keys.device)
            twin.keys = layer.keys.index_select(0, idx)
            twin.values = layer.values.index_select(0, idx)
        new.layers.append(twin)
    return new


def kv_bytes_per_token(config, dtype_bytes: int = 2) -> int:
    """Bytes of K and V per token per row over all layers (full-attention accounting)."""
    cfg = config.get_text_config(decoder=True) if hasattr(config, "get_text_config") else config
    heads = getattr(cfg, "num_key_value_heads", None) or cfg.num_attention_heads
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    return 2 * cfg.num_hidden_layers * heads * head_dim * dtype_bytes
