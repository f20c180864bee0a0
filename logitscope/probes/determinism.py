"""Game scores and determinism (West & Potts 2025, Table 2 and Figure 4); numpy/scipy only.

A game record holds, per round, the outcome ("win" / "loss" / "tie", from the model's side) and
the model's move distribution (renormalised over valid moves). From these:

- net score per game = (wins - losses) / rounds x 100, in [-100, 100]; the table gives its mean
  over games with a 95% percentile bootstrap interval over games (`net_ci`, NET_CI): every
  resample's mean is a mean of scores in [-100, 100], so the interval stays inside the score's
  range (a t-interval ran past -100 for a model near the floor over few games);
- determinism of a round = the probability of the model's most likely move (1/k is uniform,
  1 fully predictable); `determinism_after` groups rounds 2.. by the previous round's outcome, and
  `determinism_after_rounds` says how many rounds each of those means rests on (`after_counts`).
"""
from __future__ import annotations

import math

import numpy as np

OUTCOMES = ("win", "tie", "loss")          # the study's Table 2 order, kept by every table and figure
NET_CI = "95% percentile bootstrap over games (2000 resamples, seed 0)"


def uniform_expected_net(game: str, k: int) -> float:
    """Expected net score of a uniformly random player against the greedy adversary.
    RPS: every move wins, ties and loses 1/3 of the time -> 0. Hide-and-seek with k spots: the
    seeker finds the player with probability 1/k -> (k-1)/k - 1/k, x 100 (71.4 for k = 7)."""
    if game == "rps":
        return 0.0
    return ((k - 1) / k - 1 / k) * 100.0


def net_scores(records: list[dict]) -> np.ndarray:
    return np.array([(r["outcomes"].count("win") - r["outcomes"].count("loss")) / len(r["outcomes"]) * 100
                     for r in records], dtype=np.float64)


def mean_ci(x, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and the `level` t-interval (nan half-width below 2 values)."""
    from scipy import stats
    x = np.asarray(x, dtype=np.float64)
    m = float(x.mean()) if len(x) else float("nan")
    if len(x) < 2:
        return m, float("nan"), float("nan")
    half = float(stats.t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
    return m, m - half, m + half


def net_ci(nets, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """The `level` percentile bootstrap interval of the mean net score, games resampled (seeded):
    inside [min, max] of the games' scores, so inside [-100, 100]; nan below 2 games."""
    from .stats import boot_mean, percentile_ci
    x = np.asarray(nets, dtype=np.float64)
    if len(x) < 2:
        return float("nan"), float("nan")
    return percentile_ci(boot_mean(x, np.random.default_rng(seed)), level)


def determinism(probs) -> float:
    """max_move p(move) of one round's (renormalised) move distribution."""
    return float(np.max(np.asarray(probs, dtype=np.float64)))


def after_counts(records: list[dict]) -> dict:
    """{outcome: how many rounds followed a round with that outcome} (rounds 2.. of every game): the
    rounds `determinism_after[outcome]` is a mean over."""
    return {o: sum(r["outcomes"][:-1].count(o) for r in records) for o in OUTCOMES}


def summarise(records: list[dict]) -> dict:
    """The table row of one model: outcome rates in % of rounds, net score with its 95% CI (NET_CI),
    determinism (a probability, overall and after each previous outcome; None where no round had that
    previous outcome) with the rounds each rests on, and the mean invalid and unexplored (pruned)
    probability mass per round (fractions, 0..1)."""
    if not records:
        raise ValueError("no games to summarise")
    outs = [o for r in records for o in r["outcomes"]]
    n = len(outs)
    nets = net_scores(records)
    net, (lo, hi) = float(nets.mean()), net_ci(nets)
    det_all, after = [], {o: [] for o in OUTCOMES}
    for r in records:
        dets = [determinism(p) for p in r["probs"]]
        det_all += dets
        for prev, d in zip(r["outcomes"][:-1], dets[1:]):
            after[prev].append(d)
    invalid = [v for r in records for v in r.get("invalid_mass", [1.0 - x for x in r["valid_mass"]])]
    unexplored = [v for r in records for v in r.get("unexplored_mass", [0.0] * len(r["valid_mass"]))]
    return {
        "games": len(records),
        "rounds": len(records[0]["outcomes"]),
        "net_score": net, "net_score_ci95": [lo, hi], "net_score_ci_method": NET_CI,
        "win_rate": outs.count("win") / n * 100, "loss_rate": outs.count("loss") / n * 100,
        "tie_rate": outs.count("tie") / n * 100,
        "determinism": float(np.mean(det_all)),
        "determinism_after": {o: (float(np.mean(v)) if v else None) for o, v in after.items()},
        "determinism_after_rounds": {o: len(v) for o, v in after.items()},
        "invalid_mass": float(np.mean(invalid)),
        "unexplored_mass": float(np.mean(unexplored)),
        "no_valid_rounds": int(sum(r.get("no_valid_rounds", 0) for r in records)),
    }
