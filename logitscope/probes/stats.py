"""Entropy and chi-square measures over distributions (numpy/scipy only)."""
from __future__ import annotations

import functools

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


def chi2_uniform(counts) -> tuple[float, float]:
    """Pearson chi-square of observed counts against uniform, and its p-value (scipy)."""
    from scipy import stats
    counts = np.asarray(counts, dtype=np.float64)
    if counts.sum() <= 0:
        return float("nan"), float("nan")
    res = stats.chisquare(counts)
    return float(res.statistic), float(res.pvalue)


def chi2_log10_sf(stat: float, df: int) -> float:
    """log10 of the chi-square upper tail P(X >= stat), X ~ chi2(df): the p-value's true magnitude where
    the p-value itself underflows to 0 (e.g. -3243.1 for 1500 samples in one of 11 bins). scipy's
    `chi2.logsf` is log(sf) and turns -inf past about 1e-308; the distribution infrastructure's
    `logccdf` (`make_distribution`) then works in log space. nan for a nan statistic."""
    from scipy import stats
    if stat is None or stat != stat:
        return float("nan")
    with np.errstate(divide="ignore"):
        lp = float(stats.chi2.logsf(stat, df))
        if not np.isfinite(lp):
            lp = float(_chi2_family()(df=df).logccdf(float(stat)))
    return lp / float(np.log(10))


@functools.cache
def _chi2_family():
    from scipy import stats
    return stats.make_distribution(stats.chi2)


def sample_counts(p, n: int, rng) -> np.ndarray:
    """Counts of n draws from distribution p (renormalised) with a numpy Generator."""
    p = np.asarray(p, dtype=np.float64)
    return rng.multinomial(n, p / p.sum())


def repeats(seq) -> int:
    """How many entries of a sequence repeat an earlier one (len - distinct)."""
    return len(seq) - len(set(seq))


def repeat_histogram(seqs, length: int = 10) -> np.ndarray:
    """Fraction of sequences with 0..length-1 repeats."""
    h = np.zeros(length, dtype=np.float64)
    for s in seqs:
        h[repeats(s)] += 1
    return h / max(len(seqs), 1)


def uniform_repeat_histogram(k: int = 11, length: int = 10, n: int = 10_000, seed: int = 0) -> np.ndarray:
    """The repeat histogram of n truly uniform sequences (seeded; the study's reference)."""
    rng = np.random.default_rng(seed)
    return repeat_histogram(rng.integers(0, k, size=(n, length)).tolist(), length)


def mse(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(((a - b) ** 2).mean())


def position_counts(seqs, values, length: int = 10) -> np.ndarray:
    """[value, position] counts (Figure 6's heatmap)."""
    index = {v: i for i, v in enumerate(values)}
    m = np.zeros((len(values), length), dtype=np.int64)
    for s in seqs:
        for j, v in enumerate(s[:length]):
            m[index[v], j] += 1
    return m


BOOTSTRAP_RESAMPLES = 2000


def expected_repeats(k: int = 11, length: int = 10) -> float:
    """E[repeats] in `length` uniform draws from k values: length - E[distinct], where
    E[distinct] = k (1 - ((k - 1) / k) ** length) (each value is missing with that probability).
    3.2403 for ten draws from 0..10."""
    return length - k * (1 - ((k - 1) / k) ** length)


def is_constant(values, atol: float | None = None) -> bool:
    """Do `values` span no more than `atol` (None: 1e-9 of their largest |value|, so any scale works)?
    Equal but for float noise: nothing to rank or correlate."""
    v = np.asarray(values, dtype=np.float64)
    tol = atol if atol is not None else 1e-9 * float(np.abs(v).max(initial=0.0))
    return not len(v) or float(v.max() - v.min()) <= tol


def resample_index(n: int, rng, resamples: int = BOOTSTRAP_RESAMPLES) -> np.ndarray:
    """[resamples, n] indices drawn with replacement (the bootstrap's resamples of n units)."""
    return rng.integers(0, n, size=(resamples, n))


def boot_ratio(num, den, rng, resamples: int = BOOTSTRAP_RESAMPLES) -> np.ndarray:
    """Bootstrap replicates of sum(num) / sum(den) with units (rows of num, den) resampled with
    replacement: e.g. a token-weighted mean over texts, num = a text's summed entropy, den = its
    token count. A replicate whose den sums to 0 is nan."""
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    idx = resample_index(len(num), rng, resamples)
    with np.errstate(invalid="ignore", divide="ignore"):
        return num[idx].sum(axis=1) / den[idx].sum(axis=1)


def boot_mean(values, rng, resamples: int = BOOTSTRAP_RESAMPLES) -> np.ndarray:
    """Bootstrap replicates of the mean of `values` (units resampled with replacement)."""
    values = np.asarray(values, dtype=np.float64)
    return boot_ratio(values, np.ones_like(values), rng, resamples)


def percentile_ci(replicates, level: float = 0.95) -> tuple[float, float]:
    """The percentile interval of bootstrap replicates (nan replicates left out; nan if none)."""
    x = np.asarray(replicates, dtype=np.float64)
    x = x[~np.isnan(x)]
    if not len(x):
        return float("nan"), float("nan")
    lo, hi = np.percentile(x, [50 * (1 - level), 50 * (1 + level)])
    return float(lo), float(hi)


def water_fill(a, t: float) -> np.ndarray:
    """a + x with x >= 0, sum(x) = t, raising the smallest entries of `a` to one level L
    (sum(max(L - a_i, 0)) = t): the most even way to add mass t. For every other way of adding t,
    this vector is majorised by it, so it gives the minimum of any Schur-convex function (sum of
    squares, expected chi-square) and the maximum of any Schur-concave one (entropy)."""
    a = np.asarray(a, dtype=np.float64)
    t = float(max(t, 0.0))
    if not len(a) or t == 0:
        return a.copy()
    s = np.sort(a)
    for j in range(1, len(s) + 1):                   # the j smallest raised to one level (all of them at j = k)
        level = (t + s[:j].sum()) / j
        if j == len(s) or level <= s[j]:
            return np.maximum(a, level)


def bounds_over_unexplored(f, absolute, unexplored: float, *, convex: bool) -> tuple[float, float]:
    """(min, max) of `f(p)` over every place the `unexplored` (pruned) mass of an exact readout could
    have gone: p = (a + x) / sum(a + x) with a the answers' absolute probabilities, x >= 0 and
    sum(x) <= unexplored (mass left invalid adds nothing).

    `f` is symmetric and convex (`convex=True`: expected chi-square, which grows with sum(p^2)) or
    symmetric and concave (`convex=False`: entropy). The p reachable this way form a polytope (the
    image of {x >= 0, sum(x) <= u} under the linear-fractional map x -> (a + x) / (S + sum x)), whose
    vertices are the readout itself and "all of u on answer i". Hence, in closed form:
    - the maximum of a convex f (the minimum of a concave f) is at one of those k + 1 vertices;
    - the minimum of a convex f (the maximum of a concave f) is at the water-filled allocation
      (`water_fill`: the most even one; it is majorised by every other allocation of the same
      total), using all of u: moving mass to the smallest answers lowers sum(p^2) and raises the
      entropy. A bounded search over the total (0..u) guards the last step for other measures.
    Every candidate is a feasible allocation, so the range never overshoots."""
    a = np.asarray(absolute, dtype=np.float64)
    u = float(max(unexplored, 0.0))
    if a.sum() <= 0 and u <= 0:
        raise ValueError("no valid mass and no unexplored mass: the measure is undefined")

    def val(q):
        return float(f(q / q.sum()))
    vertices = ([val(a)] if a.sum() > 0 else []) + ([val(a + u * e) for e in np.eye(len(a))] if u > 0 else [])
    even = [val(water_fill(a, t)) for t in (0.0, u) if a.sum() + t > 0]
    if u > 0 and len(a) > 1:
        from scipy.optimize import minimize_scalar
        sign = 1.0 if convex else -1.0
        lo_t = 0.0 if a.sum() > 0 else u * 1e-9
        res = minimize_scalar(lambda t: sign * val(water_fill(a, t)), bounds=(lo_t, u), method="bounded",
                              options={"xatol": u * 1e-9})
        even.append(val(water_fill(a, float(np.clip(res.x, lo_t, u)))))
    if convex:
        return min(even), max(vertices)
    return min(vertices), max(even)
