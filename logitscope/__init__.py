"""logitscope: exact next-token and answer distributions from raw Hugging Face forward passes.

`import logitscope` is light (no torch); the public API below is imported on first use.
"""
from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["load_model", "answer_distribution", "answer_distributions", "AnswerSpace", "Session",
           "UserError", "next_logprobs", "next_token", "NextToken", "generate"]

_LAZY = {
    "load_model": "logitscope.kernels.models.loading",
    "answer_distribution": "logitscope.kernels.engine.answers",
    "answer_distributions": "logitscope.kernels.engine.answers",
    "AnswerSpace": "logitscope.kernels.engine.spaces",
    "Session": "logitscope.kernels.engine.session",
    "next_logprobs": "logitscope.kernels.engine.forward",
    "next_token": "logitscope.kernels.engine.nexttoken",
    "NextToken": "logitscope.kernels.engine.nexttoken",
    "generate": "logitscope.kernels.engine.generate",
    "UserError": "logitscope.errors",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'logitscope' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
