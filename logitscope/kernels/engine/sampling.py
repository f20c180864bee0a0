"""Temperature / top-p transforms of a next-token distribution, and seeded sampling.

`transform` is applied to every step's distribution before exact marginalisation, so the exact
answer probabilities are those that sampling at these settings would give. Top-p follows the
Hugging Face `TopPLogitsWarper` rule: drop the tokens whose ascending cumulative probability is
<= 1 - top_p, always keeping the most likely token.
"""
from __future__ import annotations

import torch

from ...errors import UserError


def check_settings(temperature: float, top_p: float) -> None:
    import math
    if not (temperature > 0 and math.isfinite(temperature)):
        raise UserError(f"temperature must be a finite number > 0 (got {temperature})")
    if not 0 < top_p <= 1:
        raise UserError(f"top-p must be in (0, 1] (got {top_p})")


def transform(logprobs: torch.Tensor, temperature: float = 1.0, top_p: float = 1.0) -> torch.Tensor:
    """logprobs: [..., vocab] -> log-probs after temperature then top-p (float32, renormalised)."""
    check_settings(temperature, top_p)
    lp = logprobs if logprobs.dtype == torch.float32 else logprobs.float()   # T = 1, top-p = 1: the same tensor
    return transform_ops(lp, temperature, 1 - top_p, temperature != 1.0, top_p < 1.0)


def transform_ops(lp: torch.Tensor, temperature, cut, scaled: bool, top: bool) -> torch.Tensor:
    """The transform's ops on float32 log-probs: `temperature` and `cut` (= 1 - top_p) are Python
    floats or 0-d float32 tensors (the compiled decode step's inputs, so one graph serves every value;
    the kernels cast a float to float32 too, so both give the same bits); `scaled` (T != 1) and `top`
    (top-p < 1) choose the ops."""
    if scaled:
        lp = torch.log_softmax(lp / temperature, dim=-1)
    if top:
        sorted_lp, idx = torch.sort(lp, dim=-1, descending=False)
        cum = sorted_lp.exp().cumsum(-1)
        drop = cum <= cut
        drop[..., -1] = False
        lp = lp.masked_fill(drop.scatter(-1, idx, drop), float("-inf"))
        lp = torch.log_softmax(lp, dim=-1)
    return lp


def row_rng(seed: int, *key: int):
    """The numpy Generator of one row (a game, a sample): its stream depends on (seed, key) only,
    so results do not change with batch size, chunking or which rows share a batch."""
    import numpy as np
    return np.random.default_rng([seed, *key])


def sample_with_uniforms(logprobs: torch.Tensor, uniforms) -> torch.Tensor:
    """Inverse-CDF sampling: one token per row from log-probs [batch, vocab] and one uniform
    number in [0, 1) per row (from that row's own generator). Returns ids [batch]."""
    probs = logprobs.double().exp()
    cdf = probs.cumsum(-1)
    u = torch.as_tensor(uniforms, dtype=torch.float64).reshape(-1, 1) * cdf[:, -1:]
    idx = torch.searchsorted(cdf, u, right=True).squeeze(-1)
    return idx.clamp(max=probs.shape[-1] - 1)
