"""Weight quantisation with optimum-quanto, applied at load time through transformers."""
from __future__ import annotations

from ..errors import UserError

_WEIGHTS = {"fp8": "float8", "int8": "int8"}


def quanto_config(kind: str):
    """A `QuantoConfig` for fp8 | int8 weights (activations stay in the model dtype)."""
    if kind not in _WEIGHTS:
        raise UserError(f"unknown quantisation '{kind}'; choose fp8, int8 or none")
    try:
        import optimum.quanto  # noqa: F401
    except ImportError:
        raise UserError('quantisation needs optimum-quanto: pip install -e ".[quant]"') from None
    from transformers import QuantoConfig
    return QuantoConfig(weights=_WEIGHTS[kind])
