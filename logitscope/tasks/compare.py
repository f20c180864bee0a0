"""`probe compare`: the headline question for two models: which is more random, less predictable,
more diverse, by how much, with a confidence interval. Runs each chosen probe on both models
(resuming what exists) and puts one number per probe side by side:

- integers / letters: entropy (bits) of the exact answer distribution (exact: no interval) and the
  expected chi-square for 1500 samples;
- sequences: repeated numbers per sequence (Welch 95% CI of the difference);
- rps / hide-seek: net score per game against the greedy adversary (Welch CI);
- entropy: mean top-5 entropy per generated text (Welch CI);
- diversity: mean pairwise embedding cosine (bootstrap CI of the difference, texts resampled).
`quick` uses small sample counts so both embedded models finish in a few minutes on 2 CPU cores.
"""
from __future__ import annotations

import time

import numpy as np

from ..errors import UserError

TASKS = ("integers", "letters", "sequences", "rps", "hide-seek", "entropy", "diversity")
QUICK = {"sequences": 20, "games": 10, "rounds": 5, "entropy": (8, 32), "diversity": (12, 48)}
FULL = {"sequences": 100, "games": 50, "rounds": 10, "entropy": (20, 64), "diversity": (100, 128)}


def welch(a, b) -> tuple[float, float, float]:
    """(mean of b - mean of a, 95% CI) by Welch's t-test (scipy)."""
    from scipy import stats
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if not len(a) or not len(b):
        return float("nan"), float("nan"), float("nan")
    if len(a) < 2 or len(b) < 2:
        return float(b.mean() - a.mean()), float("nan"), float("nan")
    ci = stats.ttest_ind(b, a, equal_var=False).confidence_interval(0.95)
    return float(b.mean() - a.mean()), float(ci.low), float(ci.high)


def _row(measure, a, b, diff, lo, hi, better: str, note="") -> dict:
    """better: 'higher' or 'lower' means more random / less predictable / more diverse."""
    winner = None
    if lo == lo and hi == hi:            # an interval: decided only when it excludes 0
        if lo > 0 or hi < 0:
            winner = "B" if (diff > 0) == (better == "higher") else "A"
    elif diff == diff and diff != 0:     # exact numbers
        winner = "B" if (diff > 0) == (better == "higher") else "A"
    return {"measure": measure, "a": a, "b": b, "diff": diff, "lo": lo, "hi": hi, "better": better,
            "more_random": winner, "note": note}


def run_compare(models, *, tasks=TASKS, quick=False, seed=0, out="results", load=None, log=None) -> dict:
    from ..kernels.models.loading import load_model
    if len(models) != 2:
        raise UserError("probe compare takes exactly two models: --model A --model B")
    bad = [t for t in tasks if t not in TASKS]
    if bad:
        raise UserError(f"unknown task '{bad[0]}'; choose from {', '.join(TASKS)}")
    n = QUICK if quick else FULL
    t0 = time.perf_counter()
    lms = [m if not isinstance(m, str) else (m if m == "uniform" else load_model(m, **(load or {}))) for m in models]
    names = [getattr(x, "spec", x) for x in lms]
    rows, times = [], {}
    for task in tasks:
        t1 = time.perf_counter()
        if log:
            log(f"compare: {task}")
        rows += _TASK_ROWS[task](lms, n, seed, out, load, log)
        times[task] = round(time.perf_counter() - t1, 1)
    return {"models": names, "rows": rows, "quick": quick, "seconds": round(time.perf_counter() - t0, 1),
            "task_seconds": times}


def _single(name):
    def rows(lms, n, seed, out, load, log):
        import importlib

        from .randomness.single import run_single
        task = importlib.import_module(f"logitscope.tasks.randomness.{name}").TASK
        got = [run_single(task, [lm], seed=seed, out=out, load=load)[0] for lm in lms]
        h = [g["entropy_bits"] for g in got]
        c = [g["chi2_expected"] for g in got]
        return [_row(f"{name}: answer entropy (bits)", h[0], h[1], h[1] - h[0], float("nan"), float("nan"), "higher",
                     "exact"),
                _row(f"{name}: expected chi-square (1500 samples)", c[0], c[1], c[1] - c[0], float("nan"), float("nan"),
                     "lower", "exact")]
    return rows


def _sequences(lms, n, seed, out, load, log):
    from .randomness.sequences import run_sequences
    got = [run_sequences([lm], samples=n["sequences"], seed=seed, out=out, load=load)[0] for lm in lms]
    reps = []
    for g in got:
        recs = _units(g["results"], "index")
        reps.append([10 - len(set(r["numbers"])) for r in recs.values() if r["numbers"]])
    d, lo, hi = welch(*reps)
    mse = [g["repeat_mse_vs_uniform"] for g in got]
    return [_row(f"sequences: repeats per sequence (uniform: {10 - 11 * (1 - (10 / 11) ** 10):.2f})", np.mean(reps[0]) if reps[0] else None,
                 np.mean(reps[1]) if reps[1] else None, d, lo, hi, "lower",
                 f"MSE vs uniform {_fmt(mse[0])} / {_fmt(mse[1])}")]


def _game(name):
    def rows(lms, n, seed, out, load, log):
        from ..probes.determinism import net_scores
        from .games.determinism import run_determinism
        got = [run_determinism([lm], name, games=n["games"], rounds=n["rounds"], seed=seed, out=out, load=load,
                               progress=False)[0] for lm in lms]
        nets = [net_scores(list(_units(g["results"], "game").values())) for g in got]
        d, lo, hi = welch(*nets)
        det = [g["determinism"] for g in got]
        return [_row(f"{name}: net score vs the greedy adversary", float(np.mean(nets[0])), float(np.mean(nets[1])),
                     d, lo, hi, "higher", f"determinism {det[0]:.3f} / {det[1]:.3f}")]
    return rows


def _entropy(lms, n, seed, out, load, log):
    from .creativity.entropy import run_entropy
    samples, tokens = n["entropy"]
    from .creativity.entropy import entropy_outputs
    rows, texts = run_entropy(lms, samples=samples, max_new_tokens=tokens, seed=seed, out=out, load=load)
    entropy_outputs(rows, texts, out)                 # the PNG and the token page the report links
    per = [[float(np.mean(r["top5_entropy_bits"])) for r in texts[x["model"]][1] if r["top5_entropy_bits"]]
           for x in rows]
    d, lo, hi = welch(*per)
    return [_row("open text: top-5 entropy per token (bits)", float(np.mean(per[0])), float(np.mean(per[1])), d, lo, hi,
                 "higher", f"{samples} texts x {tokens} tokens")]


def _diversity(lms, n, seed, out, load, log):
    from sklearn.metrics.pairwise import cosine_similarity

    from .creativity.diversity import run_diversity  # noqa: E402
    samples, tokens = n["diversity"]
    from .creativity.diversity import diversity_map
    got = run_diversity(lms, samples=samples, max_new_tokens=tokens, seed=seed, out=out, load=load)
    diversity_map(got, out, seed)
    sims = [cosine_similarity(g["_emb"]) for g in got]
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(1000):
        vals = []
        for sim in sims:
            idx = rng.integers(0, len(sim), len(sim))
            pair = idx[:, None] != idx[None, :]
            vals.append(sim[np.ix_(idx, idx)][pair].mean())
        diffs.append(vals[1] - vals[0])
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    m = [g["embedding_cosine"]["mean"] for g in got]
    return [_row("diversity: mean embedding cosine", m[0], m[1], m[1] - m[0], float(lo), float(hi), "lower",
                 f"{samples} texts x {tokens} tokens; distinct-2 {got[0]['distinct']['2']:.2f} / "
                 f"{got[1]['distinct']['2']:.2f}")]


def _units(path, key) -> dict:
    from .results import jsonl_records
    out = {}
    for rec in jsonl_records(path):
        if rec.get("type") == "unit":
            out.setdefault(rec[key], rec)
    return out


def _fmt(x):
    return "-" if x is None else f"{x:.4f}"


_TASK_ROWS = {"integers": _single("integers"), "letters": _single("letters"), "sequences": _sequences,
              "rps": _game("rps"), "hide-seek": _game("hide-seek"), "entropy": _entropy, "diversity": _diversity}
