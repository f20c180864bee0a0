"""Pairwise judgements -> rankings and agreement (West & Potts 2025, Section 4). No torch.

- Bradley-Terry strengths with `choix.ilsr_pairwise_dense` on a matrix of (possibly fractional)
  wins: a person's judgement adds 1 to its winner, an exact model judge adds P(left) and
  P(right); log-strengths centred to mean 0, with bootstrap 95% CIs (judgements resampled);
- Cohen's kappa (`sklearn.metrics.cohen_kappa_score`) for every pair of annotators on the pairs
  both judged; Krippendorff's alpha (`krippendorff.alpha`, nominal) with more than two;
- Spearman's rho (`scipy.stats.spearmanr`) between axes and against reward-model scores.
"""
from __future__ import annotations

import numpy as np

from ..errors import UserError

ALPHA = 0.01          # choix's regularisation: finite strengths for an item that never lost


def _choix():
    try:
        import choix
    except ImportError:
        raise UserError('rankings need choix: pip install -e ".[creativity]"') from None
    return choix


def win_matrix(comparisons: list[tuple], items: list) -> np.ndarray:
    """comparisons: (a, b, w) = a beat b with weight w; returns wins[i, j] (i beat j)."""
    at = {x: i for i, x in enumerate(items)}
    m = np.zeros((len(items), len(items)))
    for a, b, w in comparisons:
        m[at[a], at[b]] += w
    return m


def bt_strengths(comparisons: list[tuple], items: list) -> np.ndarray:
    """Centred Bradley-Terry log-strengths of `items`."""
    if len(items) < 2:
        return np.zeros(len(items))
    s = _choix().ilsr_pairwise_dense(win_matrix(comparisons, items), alpha=ALPHA)
    return s - s.mean()


def bt_with_ci(comparisons: list[tuple], items: list, *, resamples: int = 200, seed: int = 0) -> dict:
    """{item: {"strength", "lo", "hi"}} with bootstrap 95% percentile intervals."""
    est = bt_strengths(comparisons, items)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(resamples if comparisons else 0):
        idx = rng.integers(0, len(comparisons), len(comparisons))
        boots.append(bt_strengths([comparisons[i] for i in idx], items))
    lo, hi = (np.percentile(boots, [2.5, 97.5], axis=0) if boots else (est, est))
    return {x: {"strength": float(est[i]), "lo": float(lo[i]), "hi": float(hi[i])} for i, x in enumerate(items)}


def comparisons_of(judgements: list[dict], key=lambda poem_id: poem_id) -> list[tuple]:
    """(winner, loser, weight) from judgements: a model judge's P(left) splits one comparison
    between both orders of the pair; skips and controls add nothing."""
    out = []
    for j in judgements:
        if j.get("control") or j["choice"] == "skip":
            continue
        left, right = key(j["left"]), key(j["right"])
        if j.get("p_left") is not None:
            out += [(left, right, float(j["p_left"])), (right, left, 1.0 - float(j["p_left"]))]
        else:
            out.append((key(j["winner"]), right if j["winner"] == j["left"] else left, 1.0))
    return out


def pair_labels(judgements: list[dict]) -> dict:
    """{annotator: {pair: label}}: label 0 when the poem with the smaller id won, 1 otherwise."""
    out: dict = {}
    for j in judgements:
        if j["choice"] == "skip" or j.get("control"):
            continue
        first = min(j["left"], j["right"])
        out.setdefault(j["annotator"], {})[j["pair"]] = 0 if j["winner"] == first else 1
    return out


def kappas(judgements: list[dict]) -> list[dict]:
    """Cohen's kappa of every pair of annotators over the pairs both judged (at least 2)."""
    from sklearn.metrics import cohen_kappa_score
    labels = pair_labels(judgements)
    names = sorted(labels)
    out = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            shared = sorted(set(labels[a]) & set(labels[b]))
            if len(shared) < 2:
                continue
            x, y = [labels[a][p] for p in shared], [labels[b][p] for p in shared]
            k = cohen_kappa_score(x, y) if len(set(x) | set(y)) > 1 else float("nan")
            out.append({"a": a, "b": b, "items": len(shared), "kappa": float(k),
                        "agreement": float(np.mean(np.equal(x, y)))})
    return out


def krippendorff_alpha(judgements: list[dict]) -> float | None:
    """Nominal Krippendorff's alpha over annotators x pairs (missing where not judged); None below 3."""
    labels = pair_labels(judgements)
    if len(labels) < 3:
        return None
    try:
        import krippendorff
    except ImportError:
        raise UserError('agreement needs krippendorff: pip install -e ".[creativity]"') from None
    pairs = sorted({p for v in labels.values() for p in v})
    data = np.array([[labels[a].get(p, np.nan) for p in pairs] for a in sorted(labels)], dtype=float)
    if np.isfinite(data).sum(axis=0).max(initial=0) < 2:
        return None
    return float(krippendorff.alpha(reliability_data=data, level_of_measurement="nominal"))


def control_accuracy(judgements: list[dict]) -> dict:
    """{annotator: {"controls", "correct", "accuracy", "flag"}}: flag below 100%."""
    out: dict = {}
    for j in judgements:
        if j.get("control") and j["choice"] != "skip":
            d = out.setdefault(j["annotator"], {"controls": 0, "correct": 0})
            d["controls"] += 1
            d["correct"] += bool(j.get("correct"))
    for d in out.values():
        d["accuracy"] = d["correct"] / d["controls"]
        d["flag"] = d["accuracy"] < 1.0
    return out


def spearman(x: dict, y: dict) -> dict | None:
    """rho and p over the keys both have (at least 3)."""
    from scipy import stats
    keys = sorted(set(x) & set(y))
    if len(keys) < 3:
        return None
    res = stats.spearmanr([x[k] for k in keys], [y[k] for k in keys])
    return {"rho": float(res.statistic), "p": float(res.pvalue), "n": len(keys)}
