"""Bradley-Terry strengths, their bootstrap intervals and a contest's winner (West & Potts 2025,
Section 4). No torch.

Strengths: `choix.ilsr_pairwise_dense` on a matrix of (possibly fractional) wins: a person's judgement
adds 1 to its winner, an exact model judge adds P(left) and P(right), and every two items get PSEUDO
virtual wins each way (a symmetric prior that keeps an unbeaten item finite: reversing every judgement
negates every strength; choix's own `alpha` seeds its Markov chain's rates and is not symmetric: a 3-0
winner got +4.15, the 0-3 loser of a mirror contest -4.37, the 3-3 model between them +0.22);
log-strengths centred to mean 0, with bootstrap 95% percentile CIs (judgements resampled: one
comparison per judgement, never its two halves apart).

Winners: the leader of a contest is the entry with the highest estimate; it is the winner only when
it is clearly ahead of every other entry: the 95% bootstrap interval of its log-strength minus that
entry's (the same resamples the CIs come from, so the difference keeps their correlation) lies above
0 (above TIE_TOL, so a zero-width interval of a judge that never varies is no lead). Requiring every
difference to clear 0 at 95% is an intersection-union test of "the leader is the strongest": it
needs no multiplicity correction. Overlapping CIs of two strengths are not that test (they can overlap
while the difference is clear: the strengths are estimated together, and correlated).
Otherwise the contest has no clear winner: the leader and every entry it is not clearly ahead of are
named, and it counts as no one's win. Two entries whose estimates lie within TIE_TOL of each other
are equal (choix stops at an L1 step of 1e-8, so equal strengths may differ by about that much;
TIE_TOL = 1e-6 is far above that and far below what one judgement moves): no leader at all.
A contest where some entry took part in fewer than MIN_COMPARISONS comparisons is too small to rank:
its leader is named, but it has no winner. MIN_COMPARISONS = 6 is the smallest n at which even a
clean sweep n-0 is significant (two-sided sign test, p = 2 * 0.5^n < 0.05; 5-0 has p = 0.0625);
the bootstrap cannot see that (every resample of a sweep is a sweep: a zero-width interval).
"""
from __future__ import annotations

import numpy as np

from ..errors import UserError

PSEUDO = 0.01         # virtual wins each way between every two items: finite strengths for one that never lost
TIE_TOL = 1e-6        # log-strengths this close are equal; a difference's interval must clear it (see above)
MIN_COMPARISONS = 6   # fewer comparisons for an entry of a contest: too small to rank (ditto)
LEVEL = 95            # percent, of every interval


def _choix():
    try:
        import choix
    except ImportError:
        raise UserError('rankings need choix: pip install -e ".[creativity]"') from None
    return choix


def win_matrix(comparisons: list[tuple], items: list) -> np.ndarray:
    """comparisons: (a, b, w) = one comparison of a and b that a won with weight w and b with 1 - w
    (a person: (winner, loser, 1); an exact judge: (left, right, P(left))); returns wins[i, j]."""
    at = {x: i for i, x in enumerate(items)}
    m = np.zeros((len(items), len(items)))
    for a, b, w in comparisons:
        m[at[a], at[b]] += w
        m[at[b], at[a]] += 1.0 - w
    return m


def bt_strengths(comparisons: list[tuple], items: list) -> np.ndarray:
    """Centred Bradley-Terry log-strengths of `items`."""
    if len(items) < 2:
        return np.zeros(len(items))
    wins = win_matrix(comparisons, items) + PSEUDO * (1 - np.eye(len(items)))
    s = _choix().ilsr_pairwise_dense(wins)
    return s - s.mean()


def _interval(x) -> tuple[float, float]:
    lo, hi = np.percentile(x, [(100 - LEVEL) / 2, (100 + LEVEL) / 2], axis=0)
    return lo, hi


def bt_fit(comparisons: list[tuple], items: list, *, resamples: int = 200, seed: int = 0) -> tuple[dict, dict]:
    """(strengths, margins). strengths: {item: {"strength", "lo", "hi", "n"}} with bootstrap 95%
    percentile intervals (the comparisons, one per judgement, resampled with replacement; n = the
    comparisons the item took part in). margins: {item: {"diff", "lo", "hi"}} for every item but the
    leader (the highest estimate): the leader's log-strength minus the item's, with the 95% interval
    of that difference over the same resamples."""
    est = bt_strengths(comparisons, items)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(resamples if comparisons else 0):
        idx = rng.integers(0, len(comparisons), len(comparisons))
        boots.append(bt_strengths([comparisons[i] for i in idx], items))
    boots = np.array(boots) if boots else est[None, :]
    lo, hi = _interval(boots)
    n = {x: 0 for x in items}
    for a, b, _ in comparisons:
        n[a] += 1
        n[b] += 1
    strengths = {x: {"strength": float(est[i]), "lo": float(lo[i]), "hi": float(hi[i]), "n": n[x]}
                 for i, x in enumerate(items)}
    if not items:
        return strengths, {}
    top = min(range(len(items)), key=lambda i: (-est[i], str(items[i])))
    margins = {}
    for i, x in enumerate(items):
        if i != top:
            d_lo, d_hi = _interval(boots[:, top] - boots[:, i])
            margins[x] = {"diff": float(est[top] - est[i]), "lo": float(d_lo), "hi": float(d_hi)}
    return strengths, margins


def bt_with_ci(comparisons: list[tuple], items: list, *, resamples: int = 200, seed: int = 0) -> dict:
    """{item: {"strength", "lo", "hi", "n"}}: `bt_fit`'s strengths."""
    return bt_fit(comparisons, items, resamples=resamples, seed=seed)[0]


def verdict(strengths: dict, margins: dict) -> dict:
    """{"leader", "contenders", "too_small", "fewest", "winner", "margins"} of one contest's entries
    (`bt_fit`'s two dicts). leader: the highest estimate, None when another lies within TIE_TOL of it;
    contenders: the leader and every entry whose margin (or its interval) does not clear TIE_TOL,
    sorted by name (empty when the leader is clearly ahead of all); winner: the leader when it is clearly ahead of
    all and every entry took part in MIN_COMPARISONS comparisons or more, else None."""
    if not strengths:
        return {"leader": None, "contenders": [], "too_small": True, "fewest": 0, "winner": None, "margins": {}}
    first = next(m for m in strengths if m not in margins)
    close = [m for m, d in margins.items() if min(d["lo"], d["diff"]) <= TIE_TOL]
    equal = any(d["diff"] <= TIE_TOL for d in margins.values())
    fewest = min(v["n"] for v in strengths.values())
    small = fewest < MIN_COMPARISONS
    leader = None if equal else first
    return {"leader": leader, "contenders": sorted([first, *close]) if close else [], "too_small": small,
            "fewest": fewest, "winner": None if small or close else leader, "margins": margins}
