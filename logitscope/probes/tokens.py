"""Per-token measures of generated text (Mohammadi 2024): entropy by position, low-entropy share,
recovery after a perturbation, ROUGE-L against a reference. numpy/scipy only (rouge-score lazily)."""
from __future__ import annotations

import numpy as np

LOW_BITS = 0.1      # a token whose top-5 entropy is below this is "near-deterministic"
WINDOW = 8          # recovery: tokens per rolling window


def _t_band(x: np.ndarray) -> tuple[float, float, float]:
    """Mean and 95% t-interval of the values (nan half-width below 2 values)."""
    from scipy import stats
    m = float(x.mean())
    if len(x) < 2:
        return m, float("nan"), float("nan")
    half = float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x)))
    return m, m - half, m + half


def by_position(series: list[list[float]]) -> dict:
    """Per position over the samples that reached it: mean, 95% band (t-interval of the mean) and n."""
    length = max((len(s) for s in series), default=0)
    mean, lo, hi, n = [], [], [], []
    for k in range(length):
        x = np.array([s[k] for s in series if len(s) > k], dtype=np.float64)
        m, a, b = _t_band(x)
        mean.append(m), lo.append(a), hi.append(b), n.append(len(x))
    return {"mean": mean, "lo": lo, "hi": hi, "n": n}


def entropy_summary(samples: list[dict]) -> dict:
    """Samples are generation records (`entropy_bits`, `top5_entropy_bits` per token)."""
    full = [s["entropy_bits"] for s in samples]
    top5 = [s["top5_entropy_bits"] for s in samples]
    flat_full = np.concatenate([np.asarray(x, dtype=np.float64) for x in full]) if full else np.zeros(0)
    flat_top5 = np.concatenate([np.asarray(x, dtype=np.float64) for x in top5]) if top5 else np.zeros(0)
    per_sample = np.array([np.mean(x) for x in top5 if len(x)], dtype=np.float64)
    finish: dict = {}
    for s in samples:
        finish[s.get("finish", "?")] = finish.get(s.get("finish", "?"), 0) + 1
    return {"samples": len(samples), "tokens": int(len(flat_full)),
            "mean_length": float(np.mean([len(x) for x in full])) if full else None,
            "mean_entropy_bits": float(flat_full.mean()) if len(flat_full) else None,
            "mean_top5_entropy_bits": float(flat_top5.mean()) if len(flat_top5) else None,
            "top5_entropy_ci95": list(_t_band(per_sample)[1:]) if len(per_sample) else None,
            "low_entropy_share": float((flat_top5 < LOW_BITS).mean()) if len(flat_top5) else None,
            "finish": finish,
            "entropy_by_position": by_position(full), "top5_by_position": by_position(top5)}


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
