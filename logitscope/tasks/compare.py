"""`probe compare`: the headline question for two models: which is more random, less predictable,
more diverse, by how much, with a confidence interval. Runs each chosen probe on both models
(resuming what exists) and puts one number per probe side by side. Every row uses exactly the
units of this run (indices 0..n-1 of the result file, n from the sample sizes below), so its
numbers are the ones the task's own summary and the report show for the same (model, setting, n):

- integers / letters: entropy (bits) of the exact answer distribution and the expected chi-square
  for 1500 samples (exact; the interval bounds the difference over wherever the readouts' pruned
  mass could have gone, so a difference smaller than the pruning is no verdict);
- sequences: distance of the mean number of repeats per sequence from a uniform source's
  (|mean - 3.24|; lower = closer to uniform = more random), a conservative 95% interval of the
  difference from each mean's t-interval (see `_sequences`);
- rps / hide-seek: net score per game against the greedy adversary (95% percentile bootstrap CI over games);
- entropy: token-weighted mean top-5 entropy per generated token (bits), bootstrap CI of the
  difference (texts resampled per model), the estimator of the entropy summary;
- diversity: mean pairwise embedding cosine (bootstrap CI of the difference, texts resampled).

A run's rows are appended to `<out>/compare/compare-<config hash>.jsonl` (the report's summary
table). `quick` uses small sample counts so both embedded models finish in a few minutes on 2 CPU
cores.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .. import progress
from ..errors import UserError

TASKS = ("integers", "letters", "sequences", "rps", "hide-seek", "entropy", "diversity")
QUICK = {"sequences": 20, "games": 10, "rounds": 5, "entropy": (8, 32), "diversity": (12, 48)}
FULL = {"sequences": 100, "games": 50, "rounds": 10, "entropy": (20, 64), "diversity": (100, 128)}


def boot_diff(a, b, seed: int = 0) -> tuple[float, float | None, float | None]:
    """(mean of b - mean of a, 95% CI): the percentile interval of a bootstrap that resamples each
    side's units on its own (seeded). It stays inside the range the units allow (net scores in
    [-100, 100] give a difference in [-200, 200]; a t-interval over such bounded scores ran past
    them). No CI below 2 units a side."""
    from ..probes.stats import boot_mean, percentile_ci
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if not len(a) or not len(b):
        return float("nan"), None, None
    if len(a) < 2 or len(b) < 2:
        return float(b.mean() - a.mean()), None, None
    rng = np.random.default_rng(seed)
    lo, hi = percentile_ci(boot_mean(b, rng) - boot_mean(a, rng))
    return float(b.mean() - a.mean()), lo, hi


def _num(x):
    return None if x is None or x != x else float(x)


def _row(measure, a, b, diff, lo, hi, better: str, n, unit: str, note="", undecided: str | None = None) -> dict:
    """better: 'higher' or 'lower' means more random / less predictable / more diverse.
    n = (units of A, units of B) behind the numbers; lo/hi None where there is no interval;
    `undecided`: why no verdict is given whatever the interval (added to the note)."""
    a, b, diff, lo, hi = map(_num, (a, b, diff, lo, hi))
    winner = None
    if undecided:
        note = f"{note}; no verdict: {undecided}" if note else f"no verdict: {undecided}"
    elif lo is not None and hi is not None:      # an interval: decided only when it excludes 0
        if lo > 0 or hi < 0:
            winner = "B" if (diff > 0) == (better == "higher") else "A"
    return {"measure": measure, "a": a, "b": b, "diff": diff, "lo": lo, "hi": hi, "better": better,
            "more_random": winner, "n": list(n), "unit": unit, "note": note}


def run_compare(models, *, tasks=TASKS, quick=False, seed=0, out="results", load=None) -> dict:
    from ..kernels.models.loading import load_model
    if len(models) != 2:
        raise UserError("probe compare takes exactly two models: --model A --model B")
    bad = [t for t in tasks if t not in TASKS]
    if bad:
        raise UserError(f"unknown task '{bad[0]}'; choose from {', '.join(TASKS)}")
    n = QUICK if quick else FULL
    t0 = time.perf_counter()
    lms = []
    for m in models:
        if isinstance(m, str) and m != "uniform":
            progress.note(f"compare: loading {m}")
            m = load_model(m, **(load or {}))
        lms.append(m)
    names = [getattr(x, "spec", x) for x in lms]
    rows, times = [], {}
    for i, task in enumerate(tasks, 1):
        t1 = time.perf_counter()
        progress.note(f"compare: step {i} of {len(tasks)}, {task} ({_size(task, n)})")
        rows += _TASK_ROWS[task](lms, n, seed, out, load)
        times[task] = round(time.perf_counter() - t1, 1)
    res = {"models": names, "rows": rows, "quick": quick, "seed": seed, "sizes": {t: _size(t, n) for t in tasks},
           "seconds": round(time.perf_counter() - t0, 1), "task_seconds": times}
    res["results"] = _write(out, res, list(tasks))
    return res


def _size(task, n) -> str:
    if task in ("integers", "letters"):
        return "exact distribution"
    if task == "sequences":
        return f"{n['sequences']} sequences per model"
    if task in ("rps", "hide-seek"):
        return f"{n['games']} games x {n['rounds']} rounds per model"
    samples, tokens = n[task]
    return f"{samples} texts x up to {tokens} tokens per model"


def _write(out, res: dict, tasks: list) -> str:
    """Append this run's rows to `<out>/compare/compare-<hash>.jsonl` (one file per models + settings;
    the last summary is the newest)."""
    from .results import ResultFile, versions, write_summary
    config = {"task": "compare", "models": res["models"], "tasks": tasks, "quick": res["quick"], "seed": res["seed"]}
    rf = ResultFile(out, "compare", "compare", config)
    with rf.open({"provenance": {"versions": versions(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}}) as fh:
        write_summary(fh, res)
    return str(rf.path)


def _single(name):
    def rows(lms, n, seed, out, load):
        import importlib

        from .randomness.single import run_single
        task = importlib.import_module(f"logitscope.tasks.randomness.{name}").TASK
        from ..probes.stats import bounds_over_unexplored, chi2_expected, entropy_bits
        got = [run_single(task, [lm], seed=seed, out=out, load=load, log=progress.note)[0] for lm in lms]
        u = [g["unexplored_mass"] for g in got]
        note = (f"exact answer distributions; the interval bounds the difference over wherever the pruned "
                f"(unexplored) mass could go: {u[0]:.1e} / {u[1]:.1e}")
        out_rows = []
        for label, f, convex, better, key in (("answer entropy (bits)", entropy_bits, False, "higher", "entropy_bits"),
                                              ("expected chi-square (1500 samples)", lambda p: chi2_expected(p, 1500),
                                               True, "lower", "chi2_expected")):
            v = [g[key] for g in got]
            if any(x is None for x in v):
                out_rows.append(_row(f"{name}: {label}", *v, None, None, None, better, (1, 1), "exact",
                                     "no valid answer reached"))
                continue
            span = [bounds_over_unexplored(f, list(g["answers"].values()), g["unexplored_mass"], convex=convex)
                    for g in got]
            out_rows.append(_row(f"{name}: {label}", v[0], v[1], v[1] - v[0], span[1][0] - span[0][1],
                                 span[1][1] - span[0][0], better, (1, 1), "exact", note))
        return out_rows
    return rows


def _sequences(lms, n, seed, out, load):
    """Closeness to uniform: |mean repeats - E_uniform|. The repeats per parsed sequence come from
    the summary's repeat histogram (exactly the run's sequences 0..n-1).

    The interval: a bootstrap of |m - u| is biased upward near u (it can exclude its own estimate),
    so each model's mean gets a 97.5% t-interval, turned into the range of its distance from u
    (0 where the interval holds u); the difference's interval runs from B's nearest minus A's
    farthest to B's farthest minus A's nearest. Both t-intervals hold with probability >= 95%, and
    then the true difference is inside: a conservative 95% interval that always holds the estimate."""
    from scipy import stats

    from ..probes.stats import expected_repeats
    from .randomness.sequences import run_sequences
    got = [run_sequences([lm], samples=n["sequences"], seed=seed, out=out, load=load, progress=False,
                         log=progress.note)[0] for lm in lms]
    uni = expected_repeats()
    reps = [np.repeat(np.arange(len(g["repeat_histogram"])),
                      np.rint(np.array(g["repeat_histogram"]) * g["parsed"]).astype(int)) for g in got]
    dist = [abs(g["mean_repeats"] - uni) if g["parsed"] else None for g in got]

    def distance_range(r):
        m = r.mean()
        half = stats.t.ppf(1 - 0.025 / 2, len(r) - 1) * r.std(ddof=1) / np.sqrt(len(r))
        lo, hi = m - half, m + half
        return (0.0 if lo <= uni <= hi else min(abs(lo - uni), abs(hi - uni))), max(abs(lo - uni), abs(hi - uni))
    diff, lo, hi = None, None, None
    if all(len(r) for r in reps):
        diff = dist[1] - dist[0]
        if min(map(len, reps)) > 1:
            (a_lo, a_hi), (b_lo, b_hi) = distance_range(reps[0]), distance_range(reps[1])
            lo, hi = b_lo - a_hi, b_hi - a_lo
    means = " / ".join("-" if g["mean_repeats"] is None else f"{g['mean_repeats']:.3f}" for g in got)
    parsed = " / ".join(f"{g['parsed']} of {g['sequences']}" for g in got)
    return [_row(f"sequences: |mean repeats - {uni:.2f}| (distance from a uniform source)", dist[0], dist[1], diff,
                 lo, hi, "lower", [g["parsed"] for g in got], "parsed sequences",
                 f"mean repeats {means} (uniform {uni:.3f}); parsed {parsed}; MSE of the repeat histogram vs "
                 f"uniform {_fmt(got[0]['repeat_mse_vs_uniform'])} / {_fmt(got[1]['repeat_mse_vs_uniform'])}; "
                 "interval: from each mean's 97.5% t-interval (conservative 95%)")]


def _game(name):
    def rows(lms, n, seed, out, load):
        from ..probes.determinism import net_scores
        from .games.determinism import run_determinism
        got = [run_determinism([lm], name, games=n["games"], rounds=n["rounds"], seed=seed, out=out, load=load,
                               progress=not progress.QUIET)[0] for lm in lms]
        nets = [net_scores(run_units(g["results"], "game", g["games"])) for g in got]
        d, lo, hi = boot_diff(*nets, seed=seed)
        det = [g["determinism"] for g in got]
        fallback = [g.get("no_valid_rounds", 0) for g in got]
        rounds = [g["games"] * n["rounds"] for g in got]
        note = f"determinism {det[0]:.3f} / {det[1]:.3f}; CI: percentile bootstrap over games, each model's resampled on its own"
        if any(fallback):
            note += (f"; no valid move reached (the move drawn uniformly) in {fallback[0]} of {rounds[0]} / "
                     f"{fallback[1]} of {rounds[1]} rounds")
        blocked = None
        if any(k > 0.01 * r for k, r in zip(fallback, rounds)):
            blocked = "over 1% of a model's moves were drawn uniformly, not from its own distribution"
        return [_row(f"{name}: net score vs the greedy adversary", got[0]["net_score"], got[1]["net_score"], d, lo, hi,
                     "higher", [g["games"] for g in got], f"games of {n['rounds']} rounds", note, undecided=blocked)]
    return rows


def _entropy(lms, n, seed, out, load):
    from ..probes.stats import boot_ratio, percentile_ci
    from .creativity.entropy import entropy_outputs, run_entropy
    samples, tokens = n["entropy"]
    rows, texts = run_entropy(lms, samples=samples, max_new_tokens=tokens, seed=seed, out=out, load=load,
                              log=progress.note)
    entropy_outputs(rows, texts, out)                 # this run's PNG and token pages (named by run)
    rng = np.random.default_rng(seed)
    boot = []
    for r in rows:
        series = [rec["top5_entropy_bits"] for rec in texts[r["model"]][1]]
        boot.append(boot_ratio([float(np.sum(x)) for x in series], [len(x) for x in series], rng))
    m = [r["mean_top5_entropy_bits"] for r in rows]
    diff = None if None in m else m[1] - m[0]
    lo, hi = percentile_ci(boot[1] - boot[0]) if min(r["samples"] for r in rows) > 1 else (None, None)
    return [_row("open text: top-5 entropy per generated token (bits, token-weighted mean)", m[0], m[1], diff, lo, hi,
                 "higher", [r["samples"] for r in rows], f"texts of up to {tokens} tokens",
                 f"{rows[0]['tokens']} / {rows[1]['tokens']} tokens; CI: bootstrap over texts")]


def _diversity(lms, n, seed, out, load):
    from sklearn.metrics.pairwise import cosine_similarity

    from .creativity.diversity import diversity_map, run_diversity
    samples, tokens = n["diversity"]
    got = run_diversity(lms, samples=samples, max_new_tokens=tokens, seed=seed, out=out, load=load, log=progress.note)
    diversity_map(got, out, seed)
    sims = [cosine_similarity(g["_emb"]) for g in got]
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(1000):
        vals = []
        for sim in sims:
            idx = rng.integers(0, len(sim), len(sim))
            pair = idx[:, None] != idx[None, :]
            vals.append(sim[np.ix_(idx, idx)][pair].mean() if pair.any() else np.nan)
        diffs.append(vals[1] - vals[0])
    from ..probes.stats import percentile_ci
    lo, hi = percentile_ci(diffs)
    m = [g["embedding_cosine"]["mean"] for g in got]
    return [_row("diversity: mean embedding cosine", m[0], m[1], m[1] - m[0], lo, hi, "lower",
                 [g["texts"] for g in got], f"texts of up to {tokens} tokens",
                 f"distinct-2 {got[0]['distinct']['2']:.2f} / {got[1]['distinct']['2']:.2f}; "
                 "CI: bootstrap over texts")]


def run_units(path, key: str, n: int) -> list[dict]:
    """Units 0..n-1 of a run (by `key`) from its result file and its `.rankN` shards; the first
    record of a unit counts, as when the run resumed."""
    from .results import jsonl_records
    p = Path(path)
    got: dict = {}
    for f in sorted(p.parent.glob(f"{p.stem}*.jsonl")):
        for rec in jsonl_records(f):
            if rec.get("type") == "unit" and isinstance(rec.get(key), int) and 0 <= rec[key] < n:
                got.setdefault(rec[key], rec)
    if len(got) != n:
        raise UserError(f"{path}: {n - len(got)} of {n} units missing; rerun to complete it")
    return [got[i] for i in range(n)]


def _fmt(x):
    return "-" if x is None else f"{x:.4f}"


_TASK_ROWS = {"integers": _single("integers"), "letters": _single("letters"), "sequences": _sequences,
              "rps": _game("rps"), "hide-seek": _game("hide-seek"), "entropy": _entropy, "diversity": _diversity}
