"""Entropy and chi-square measures over distributions (numpy/scipy only)."""
from __future__ import annotations

import numpy as np


def entropy_bits(p) -> float:
    """Shannon entropy in bits of a probability vector (zeros ignored; not renormalised)."""
    p = np.asarray(p, dtype=np.float64)
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


def topk_entropy_bits(p, k: int = 5) -> float:
    """Entropy in bits of the k most likely outcomes, renormalised (Mohammadi 2024's top-5 entropy)."""
    p = np.asarray(p, dtype=np.float64)
    top = np.sort(p)[::-1][:k]
    return entropy_bits(top / top.sum())


def entropy_from_logprobs_bits(logprobs) -> float:
    """Entropy in bits from natural-log probabilities over a full vocabulary."""
    lp = np.asarray(logprobs, dtype=np.float64)
    p = np.exp(lp)
    mask = p > 0
    return float(-(p[mask] * lp[mask]).sum() / np.log(2))


def chi2_expected(p, n: int) -> float:
    """E[Pearson chi-square vs uniform] for n samples drawn from distribution p over k bins:
    sum_i (Var + (E - n/k)^2) / (n/k) = sum_i (n p_i (1 - p_i) + (n p_i - n/k)^2) / (n/k)."""
    p = np.asarray(p, dtype=np.float64)
    p = p / p.sum()
    k = len(p)
    e = n / k
    return float(((n * p * (1 - p)) + (n * p - e) ** 2).sum() / e)
