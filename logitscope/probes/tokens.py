"""Per-token measures of generated text (Mohammadi 2024): entropy by position, low-entropy share,
recovery after a perturbation, ROUGE-L against a reference. numpy/scipy only (rouge-score lazily)."""
from __future__ import annotations

import numpy as np

LOW_BITS = 0.1      # a token whose top-5 entropy is below this is "near-deterministic"
WINDOW = 8          # recovery: tokens per rolling window


BAND = ("95% percentile bootstrap of the mean over the texts that reached each position (2000 resamples, "
        "seeded): inside the measure's range by construction")


def _band(x: np.ndarray, seed: int) -> tuple[float, float, float]:
    """Mean and 95% percentile bootstrap interval of the mean (nan below 2 values). Every resample's
    mean lies within [min, max] of the values, so the band stays inside the measure's range (top 5:
    [0, log2 5]; full vocabulary: [0, log2 V]); a t-interval did not (below 0 near a floor)."""
    from .stats import boot_mean, percentile_ci
    m = float(x.mean())
    if len(x) < 2:
        return m, float("nan"), float("nan")
    lo, hi = percentile_ci(boot_mean(x, np.random.default_rng(seed)))
    return m, lo, hi


def by_position(series: list[list[float]], seed: int = 0) -> dict:
    """Per position over the samples that reached it: mean, 95% band (BAND) and n."""
    length = max((len(s) for s in series), default=0)
    mean, lo, hi, n = [], [], [], []
    for k in range(length):
        x = np.array([s[k] for s in series if len(s) > k], dtype=np.float64)
        m, a, b = _band(x, seed + k)
        mean.append(m), lo.append(a), hi.append(b), n.append(len(x))
    return {"mean": mean, "lo": lo, "hi": hi, "n": n}


ESTIMATOR = ("token-weighted mean over every generated token (a text counts by its length); 95% CI: percentile "
             "bootstrap over texts of that same mean (2000 resamples, seed 0)")


def weighted_mean_ci(series: list[list[float]], seed: int = 0) -> tuple[float | None, list | None]:
    """The token-weighted mean of per-token values over texts, and its 95% percentile bootstrap
    interval resampling texts (None below 2 texts with tokens)."""
    from .stats import boot_ratio, percentile_ci
    sums = np.array([float(np.sum(x)) for x in series], dtype=np.float64)
    lens = np.array([len(x) for x in series], dtype=np.float64)
    if not lens.sum():
        return None, None
    mean = float(sums.sum() / lens.sum())
    if (lens > 0).sum() < 2:
        return mean, None
    return mean, list(percentile_ci(boot_ratio(sums, lens, np.random.default_rng(seed))))


def entropy_summary(samples: list[dict]) -> dict:
    """Samples are generation records (`entropy_bits`, `top5_entropy_bits` per token). The means are
    token-weighted (ESTIMATOR) and each CI is an interval for that same mean."""
    full = [s["entropy_bits"] for s in samples]
    top5 = [s["top5_entropy_bits"] for s in samples]
    flat_top5 = np.concatenate([np.asarray(x, dtype=np.float64) for x in top5]) if top5 else np.zeros(0)
    mean_full, ci_full = weighted_mean_ci(full)
    mean_top5, ci_top5 = weighted_mean_ci(top5)
    finish: dict = {}
    for s in samples:
        finish[s.get("finish", "?")] = finish.get(s.get("finish", "?"), 0) + 1
    return {"samples": len(samples), "tokens": int(sum(len(x) for x in full)),
            "mean_length": float(np.mean([len(x) for x in full])) if full else None,
            "mean_entropy_bits": mean_full, "entropy_ci95": ci_full,
            "mean_top5_entropy_bits": mean_top5, "top5_entropy_ci95": ci_top5, "estimator": ESTIMATOR,
            "low_entropy_share": float((flat_top5 < LOW_BITS).mean()) if len(flat_top5) else None,
            "finish": finish,
            "entropy_by_position": by_position(full), "top5_by_position": by_position(top5), "band": BAND}


def recovery_position(probs: list[float], level: float, window: int = WINDOW) -> int | None:
    """The first position k from which the mean probability of tokens k..k+window-1 is back at
    `level` (the model's unperturbed mean token probability); None if it never is."""
    p = np.asarray(probs, dtype=np.float64)
    if len(p) == 0:
        return None
    w = min(window, len(p))
    means = np.convolve(p, np.ones(w) / w, mode="valid")
    hit = np.flatnonzero(means >= level)
    return int(hit[0]) if len(hit) else None


def rouge_l(candidates: list[str], reference: str) -> list[float]:
    """ROUGE-L F1 (longest common subsequence of words) of each candidate against the reference,
    with Google's `rouge-score` (no stemming)."""
    try:
        from rouge_score import rouge_scorer
    except ImportError:
        from ..errors import UserError
        raise UserError('ROUGE-L needs rouge-score: pip install -e ".[creativity]"') from None
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    return [float(scorer.score(reference, c)["rougeL"].fmeasure) for c in candidates]
