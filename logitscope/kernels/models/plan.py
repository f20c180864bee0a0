"""Memory planning from a model's config alone (meta device, no weights): `probe plan`.

Parameters are counted on an empty (meta) model built from the config; weights take 2 bytes
per parameter in bf16 and 1 in fp8 / int8 (quantisation scales are negligible). The KV cache
takes `2 x layers x kv_heads x head_dim x 2 bytes` per token in bf16. The device map is
accelerate's `infer_auto_device_map` over `gpus` devices of `gpu_memory` each.
"""
from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from ...errors import UserError

SHIPPED = ("llama-3.1-8b", "llama-3.1-70b", "qwen2.5-7b", "qwen2.5-72b", "tulu-3-8b-rm", "smollm2-1.7b")  # configs/*.json
GiB = 1 << 30


def shipped_config(name: str) -> dict:
    text = resources.files("logitscope.configs").joinpath(f"{name}.json").read_text()
    return {k: v for k, v in json.loads(text).items() if not k.startswith("_")}


def find_config(spec: str) -> tuple[dict, str]:
    """(config dict, where it came from): a config.json path or model dir, a shipped shape, a
    registry name (its cached hub config, else its shipped shape), or a cached hub id."""
    p = Path(spec).expanduser()
    if p.is_dir() and (p / "config.json").is_file():
        p = p / "config.json"
    if p.is_file():
        try:
            return json.loads(p.read_text()), str(p)
        except json.JSONDecodeError as exc:
            raise UserError(f"{spec}: not a JSON config ({exc.msg})") from None
    if spec in SHIPPED:
        return shipped_config(spec), f"shipped shape {spec}.json"
    from . import registry
    entry = registry.lookup(spec)
    hub_id = entry.hub_id if entry is not None else (spec if spec.count("/") == 1 else None)
    if hub_id:
        try:
            from huggingface_hub import hf_hub_download
            path = hf_hub_download(hub_id, "config.json", local_files_only=True)
            return json.loads(Path(path).read_text()), f"{hub_id} (local Hugging Face cache)"
        except Exception:   # not cached: fall back to the shipped shape
            pass
    name = entry.shape if entry is not None and entry.shape else None
    if name:
        return shipped_config(name), f"shipped shape {name}.json"
    known = ", ".join(e.name for e in registry.ENTRIES if e.shape)
    raise UserError(f"no config for '{spec}'{registry.suggest(spec)}: pass a config.json path or a model "
                    f"directory, or one of {known}")


def meta_model(config: dict):
    from accelerate import init_empty_weights
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSequenceClassification
    cfg = AutoConfig.for_model(**config)
    arch = (config.get("architectures") or [""])[0]
    cls = AutoModelForSequenceClassification if arch.endswith("ForSequenceClassification") else AutoModelForCausalLM
    with init_empty_weights():
        return cls.from_config(cfg), cfg


def plan(spec: str, *, quantize: str = "none", gpus: int = 1, gpu_memory: str = "80GiB", games: int = 500,
         rounds: int = 10, game_tokens: int | None = None, kv_copies: float = 2.0) -> dict:
    """Weights, KV, games per batch and a device map, from the config alone."""
    from accelerate.utils import infer_auto_device_map
    from accelerate.utils.modeling import convert_file_size_to_int

    from ..engine.cache import kv_bytes_per_token
    config, source = find_config(spec)
    model, cfg = meta_model(config)
    params = sum(p.numel() for p in model.parameters())
    weight = {"bf16": params * 2, "fp8": params, "int8": params}
    wkey = "bf16" if quantize in (None, "none") else quantize
    kv_tok = kv_bytes_per_token(cfg, 2)
    tokens = game_tokens or (150 + 45 * rounds)          # rules + rounds x (history + question + answer)
    kv_game = kv_tok * tokens * kv_copies                 # the session row + the answer tree's working copy
    try:
        per_gpu = convert_file_size_to_int(gpu_memory)
    except ValueError:
        raise UserError(f"--gpu-memory takes a size like 48GiB (got {gpu_memory!r})") from None
    total = per_gpu * gpus
    free = total - weight[wkey] - gpus * GiB                # ~1 GiB per GPU for activations and CUDA context
    out = {"model": spec, "config": source, "architecture": (config.get("architectures") or ["?"])[0],
           "parameters": params, "weight_bytes": weight, "quantize": wkey, "kv_bytes_per_token_bf16": kv_tok,
           "game_tokens": tokens, "kv_bytes_per_game": int(kv_game), "gpus": gpus, "gpu_memory_bytes": per_gpu,
           "fits": free > kv_game, "games": games}
    if free <= kv_game:
        out["short_by_bytes"] = int(kv_game - free)
        out["games_per_batch"] = 0
        out["device_map"] = None
        return out
    out["games_per_batch"] = int(min(games, free // kv_game))
    dtype = {"bf16": "bfloat16", "fp8": "float8_e4m3fn", "int8": "int8"}[wkey]
    import logging

    import torch
    from accelerate.utils import get_balanced_memory
    quiet = [logging.getLogger(n) for n in ("accelerate", "accelerate.utils.modeling")]
    levels = [q.level for q in quiet]
    for q in quiet:
        q.setLevel(logging.ERROR)          # "Device 0 is not available": planning needs no GPU here
    try:
        no_split = getattr(model, "_no_split_modules", None) or []
        budget = {i: per_gpu - GiB for i in range(gpus)}
        if gpus > 1:
            budget = get_balanced_memory(model, max_memory=budget, no_split_module_classes=no_split,
                                         dtype=getattr(torch, dtype))
        dmap = infer_auto_device_map(model, max_memory=budget, no_split_module_classes=no_split,
                                     dtype=getattr(torch, dtype))
    finally:
        for q, lv in zip(quiet, levels):
            q.setLevel(lv)
    out["device_map"] = summarise_map(dmap)
    return out


def summarise_map(dmap: dict) -> dict:
    """{device: "embed_tokens, layers 0-39, ..."} from a module -> device map."""
    import re
    per: dict = {}
    for module, dev in dmap.items():
        per.setdefault(str(dev), []).append(module)
    out = {}
    for dev, mods in per.items():
        layers = sorted(int(m.group(1)) for x in mods if (m := re.search(r"layers\.(\d+)$", x)))
        other = [x.split(".")[-1] for x in mods if not re.search(r"layers\.(\d+)$", x)]
        parts = other + ([f"layers {layers[0]}-{layers[-1]}" if len(layers) > 1 else f"layer {layers[0]}"] if layers else [])
        out[dev] = ", ".join(parts)
    return out
