"""Pairwise judgements -> rankings and agreement (West & Potts 2025, Section 4). No torch.

- Bradley-Terry strengths with `choix.ilsr_pairwise_dense` on a matrix of (possibly fractional)
  wins: a person's judgement adds 1 to its winner, an exact model judge adds P(left) and
  P(right), and every two items get PSEUDO virtual wins each way (a symmetric prior that keeps an
  unbeaten item finite: reversing every judgement negates every strength; choix's own `alpha` seeds
  its Markov chain's rates and is not symmetric: a 3-0 winner got +4.15, the 0-3 loser of a mirror
  contest -4.37, the 3-3 model between them +0.22); log-strengths centred to mean 0, with bootstrap 95% CIs (judgements resampled: one
  comparison per judgement, never its two halves apart);
- per axis, Cohen's kappa (`sklearn.metrics.cohen_kappa_score`) for every two annotators on the
  pairs (the same two poems) both judged, and Krippendorff's alpha (`krippendorff.alpha`, nominal)
  with three or more; each undefined value comes with its reason;
- exact judges' position bias (`judge_bias`), control accuracy per annotator;
- Spearman's rho (`scipy.stats.spearmanr`) between axes and against reward-model scores;
- `read_judgements` reads judgement files (JSON lines), `rank` puts it all together.

Entries: a model is one entry, named by its model; a model whose judged poems come from two or more
runs (the `#run` of poem ids: another seed, temperature or format) is one entry per run, `model@run`
(the run hash's first 6 characters), so runs are never pooled.

Winners: a contest (topic x axis) is won by the entry with the highest Bradley-Terry strength. Two or
more entries whose log-strengths lie within TIE_TOL of the highest are a tie: no winner, no contest won
(a 1-1 split and a cycle A>B>C>A tie exactly; choix stops at an L1 step of 1e-8, so its estimates of
equal strengths may differ by about that much; TIE_TOL = 1e-6, a strength ratio of 1.000001, is far
above that and far below what one judgement moves). A tie is decided on the estimates, not on the
intervals: overlapping intervals are the `n` and the interval's business, said beside every strength.
A contest where some entry took part in fewer than MIN_COMPARISONS comparisons is too small to rank:
its leader is named, but it has no winner and counts as no one's win. MIN_COMPARISONS = 6 is the
smallest n at which even a clean sweep n-0 is significant (two-sided sign test, p = 2 * 0.5^n < 0.05;
5-0 has p = 0.0625).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import UserError

PSEUDO = 0.01         # virtual wins each way between every two items: finite strengths for one that never lost
TIE_TOL = 1e-6        # log-strengths this close to the highest tie with it (see the module's docstring)
MIN_COMPARISONS = 6   # fewer comparisons for an entry of a contest: too small to rank (ditto)


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


def bt_with_ci(comparisons: list[tuple], items: list, *, resamples: int = 200, seed: int = 0) -> dict:
    """{item: {"strength", "lo", "hi", "n"}} with bootstrap 95% percentile intervals: the comparisons
    (one per judgement, see `comparisons_of`) are resampled with replacement; n = the comparisons
    the item took part in."""
    est = bt_strengths(comparisons, items)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(resamples if comparisons else 0):
        idx = rng.integers(0, len(comparisons), len(comparisons))
        boots.append(bt_strengths([comparisons[i] for i in idx], items))
    lo, hi = (np.percentile(boots, [2.5, 97.5], axis=0) if boots else (est, est))
    n = {x: 0 for x in items}
    for a, b, _ in comparisons:
        n[a] += 1
        n[b] += 1
    return {x: {"strength": float(est[i]), "lo": float(lo[i]), "hi": float(hi[i]), "n": n[x]}
            for i, x in enumerate(items)}


def verdict(strengths: dict) -> dict:
    """{"leader", "tie", "too_small", "fewest", "winner"} of one contest's entries
    ({entry: {"strength", "n", ...}}): the leader is the strongest entry unless two or more tie within
    TIE_TOL (then `tie` lists them, sorted, and there is no leader); the winner is the leader of a
    contest where every entry took part in MIN_COMPARISONS comparisons or more."""
    if not strengths:
        return {"leader": None, "tie": [], "too_small": True, "fewest": 0, "winner": None}
    top = max(v["strength"] for v in strengths.values())
    best = sorted(m for m, v in strengths.items() if v["strength"] >= top - TIE_TOL)
    fewest = min(v["n"] for v in strengths.values())
    leader = best[0] if len(best) == 1 else None
    small = fewest < MIN_COMPARISONS
    return {"leader": leader, "tie": best if len(best) > 1 else [], "too_small": small, "fewest": fewest,
            "winner": None if small else leader}


def comparisons_of(judgements: list[dict], key=lambda poem_id: poem_id) -> list[tuple]:
    """One (a, b, w) per judgement: a person's (winner, loser, 1), an exact judge's
    (left, right, P(left)); skips, controls and pairs whose two sides share a key (two poems of one
    model, ranked by model) add nothing."""
    out = []
    for j in judgements:
        if j.get("control") or j["choice"] == "skip":
            continue
        left, right = key(j["left"]), key(j["right"])
        if left == right:
            continue
        if j.get("p_left") is not None:
            out.append((left, right, float(j["p_left"])))
        else:
            out.append((left, right, 1.0) if j["winner"] == j["left"] else (right, left, 1.0))
    return out


def pair_key(axis: str, a: str, b: str) -> str:
    """The key of a judgement: its axis and its two poems in either order (a control pair names its
    bag of words as the second poem). Opaque, so an exported pair says nothing of its poems."""
    import hashlib
    x, y = sorted((a, b))
    return "p" + hashlib.sha1(f"{axis}\n{x}\n{y}".encode()).hexdigest()[:12]


def pair_labels(judgements: list[dict]) -> dict:
    """{annotator: {pair key: label}} on one axis' judgements: label 0 when the poem with the smaller
    id won, 1 otherwise. Pairs are keyed by their poems (`pair_key`), so annotators are compared on
    the same two poems whatever schedule showed them; an annotator's later judgement of a pair wins."""
    out: dict = {}
    for j in judgements:
        if j["choice"] == "skip" or j.get("control"):
            continue
        first = min(j["left"], j["right"])
        key = pair_key(j["axis"], j["left"], j["right"])
        out.setdefault(j["annotator"], {})[key] = 0 if j["winner"] == first else 1
    return out


def kappas(judgements: list[dict]) -> list[dict]:
    """Cohen's kappa of every two annotators over the pairs both judged (at least 2), on judgements
    of one axis; `kappa` None with a `note` where it is undefined."""
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
            one = len(set(x) | set(y)) == 1
            out.append({"a": a, "b": b, "items": len(shared), "kappa": None if one else float(cohen_kappa_score(x, y)),
                        "agreement": float(np.mean(np.equal(x, y))),
                        "note": "undefined: both gave one and the same answer on every shared pair" if one else None})
    return out


def krippendorff_alpha(judgements: list[dict]) -> dict:
    """Nominal Krippendorff's alpha over annotators x pairs (missing where not judged), on judgements
    of one axis: {"alpha" (None where undefined), "annotators", "pairs", "note" (why undefined)}."""
    labels = pair_labels(judgements)
    pairs = sorted({p for v in labels.values() for p in v})
    out = {"alpha": None, "annotators": len(labels), "pairs": len(pairs), "note": None}
    if len(labels) < 3:
        return {**out, "note": "needs 3 or more annotators (Cohen's kappa covers two)"}
    data = np.array([[labels[a].get(p, np.nan) for p in pairs] for a in sorted(labels)], dtype=float)
    if np.isfinite(data).sum(axis=0).max(initial=0) < 2:
        return {**out, "note": "no pair was judged by two or more annotators"}
    pairable = data[:, np.isfinite(data).sum(axis=0) >= 2]       # alpha reads only pairs two or more judged
    if len(np.unique(pairable[np.isfinite(pairable)])) < 2:
        return {**out, "note": "undefined: every annotator gave the same answer on every pair two or more judged "
                               "(no variation)"}
    try:
        import krippendorff
    except ImportError:
        raise UserError('agreement needs krippendorff: pip install -e ".[creativity]"') from None
    alpha = float(krippendorff.alpha(reliability_data=data, level_of_measurement="nominal"))
    if alpha != alpha:
        return {**out, "note": "undefined: no disagreement is possible on the pairs two or more judged"}
    return {**out, "alpha": alpha}


def agreement(judgements: list[dict]) -> dict:
    """{axis: {"kappa": [...], "krippendorff": {...}}}: agreement is measured within an axis."""
    by_axis: dict = {}
    for j in judgements:
        by_axis.setdefault(j["axis"], []).append(j)
    return {a: {"kappa": kappas(js), "krippendorff": krippendorff_alpha(js)} for a, js in sorted(by_axis.items())}


def judge_bias(judgements: list[dict]) -> list[dict]:
    """Per exact judge and axis (records with both orders' readings): P(first) = how often the
    poem shown first is chosen (0.5 = no position bias), shift = mean of P(left | shown first) -
    P(left | shown second), and the mean invalid mass of its readouts; control pairs left out."""
    groups: dict = {}
    for j in judgements:
        if "p_left_first" in j and not j.get("control"):
            groups.setdefault((j["annotator"], j["axis"]), []).append(j)
    rows = []
    for (who, axis), js in sorted(groups.items()):
        firsts = [j["p_left_first"] for j in js if j["p_left_first"] is not None]
        firsts += [1 - j["p_left_second"] for j in js if j["p_left_second"] is not None]
        shifts = [j["p_left_first"] - j["p_left_second"] for j in js
                  if j["p_left_first"] is not None and j["p_left_second"] is not None]
        invalid = [o["invalid"] for j in js for o in (j.get("order_left_first"), j.get("order_right_first")) if o]
        rows.append({"annotator": who, "axis": axis, "pairs": len(js),
                     "position_bias": float(np.mean(firsts)) if firsts else None,
                     "mean_shift": float(np.mean(shifts)) if shifts else None,
                     "mean_invalid_mass": float(np.mean(invalid)) if invalid else None})
    return rows


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
    """rho and p over the keys both have (at least 3). Values equal to 9 decimals are ties: a fit's float
    noise (strengths of 1e-16 where every poem is even) is no order. Where an axis is constant rho and p
    are None (scipy's nan, which JSON cannot hold) and `undefined` says why."""
    from scipy import stats
    keys = sorted(set(x) & set(y))
    if len(keys) < 3:
        return None
    a, b = (np.round(np.array([v[k] for k in keys], dtype=np.float64), 9) for v in (x, y))
    if len(set(a)) < 2 or len(set(b)) < 2:
        return {"rho": None, "p": None, "n": len(keys), "undefined": "an axis is constant"}
    res = stats.spearmanr(a, b)
    return {"rho": float(res.statistic), "p": float(res.pvalue), "n": len(keys)}


def model_of(poem_id: str) -> str:
    return poem_id.rsplit("|", 2)[0]


def run_of_id(poem_id: str) -> str | None:
    """The run a poem id names (`model|topic|attempt#run`), None for ids written before runs."""
    return poem_id.split("#", 1)[1] if "#" in poem_id else None


def entry_key(judgements: list[dict]):
    """(key: poem id -> entry, {model: [runs]} of models ranked run by run): a model is its own entry,
    or, when its judged poems come from two or more runs, one entry per run, `model@run` (6 characters
    of the run, more if two runs share them)."""
    runs: dict = {}
    for j in judgements:
        for pid in (j["left"], j["right"]):
            if pid != "control":
                runs.setdefault(model_of(pid), set()).add(run_of_id(pid))
    split = {m: sorted(rs, key=str) for m, rs in runs.items() if len(rs) > 1}
    short = {}
    for m, rs in split.items():
        width = 6
        while len({str(r)[:width] for r in rs}) < len(rs):
            width += 4
        short[m] = {r: str(r)[:width] for r in rs}

    def key(pid: str) -> str:
        m = model_of(pid)
        return f"{m}@{short[m][run_of_id(pid)]}" if m in short else m
    return key, split


def read_judgements(paths) -> tuple[list[dict], list[str]]:
    """(judgements, problems): every line of every file (directories searched), malformed lines
    reported as 'file:line: why' and skipped."""
    files = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(p.rglob("*.jsonl"))
        elif p.exists():
            files.append(p)
        else:
            raise UserError(f"no such judgements file: {p}")
    recs, problems = [], []
    need = ("pair", "axis", "annotator", "left", "right", "choice")
    for f in files:
        for n, line in enumerate(open(f, encoding="utf-8"), 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                problems.append(f"{f}:{n}: not JSON ({exc.msg})")
                continue
            missing = [k for k in need if k not in rec] if isinstance(rec, dict) else list(need)
            if missing:
                problems.append(f"{f}:{n}: missing {', '.join(missing)}")
                continue
            recs.append(rec)
    return recs, problems


def distinct_annotators(judgements: list[dict]) -> list[dict]:
    """The judgements, an exact judge run with several settings (records' `settings_hash`) split into
    one annotator per setting (`judge:m@1a2b3c`), so its runs are never pooled."""
    hashes: dict = {}
    for j in judgements:
        hashes.setdefault(j["annotator"], set()).add(j.get("settings_hash"))
    return [{**j, "annotator": f"{j['annotator']}@{str(j.get('settings_hash'))[:6]}"}
            if len(hashes[j["annotator"]]) > 1 else j for j in judgements]


def rank(judgements: list[dict], *, problems=(), rewards: dict | None = None, seed=0, resamples=200) -> dict:
    """Per contest (topic x axis): Bradley-Terry strengths of poems and entries (models, or model@run)
    with bootstrap CIs and n, and its verdict (`verdict`: winner, tie, too small); per axis: entry
    strengths over all topics, contests won per entry (ties and contests too small to rank count for no
    one), Cohen's kappa and Krippendorff's alpha; control accuracy per annotator; exact judges' position
    bias; Spearman's rho between axes and against `rewards` ({reward model: {poem id: reward}})."""
    judgements = distinct_annotators(judgements)
    entry, split = entry_key(judgements)
    contests: dict = {}
    for j in judgements:
        contests.setdefault((str(j.get("topic", "?")).lower(), j["axis"]), []).append(j)
    per_contest, poem_strength = [], {}
    for (topic, axis), js in sorted(contests.items()):
        comps = comparisons_of(js)
        poems = sorted({x for a, b, _ in comps for x in (a, b)})
        by_entry = comparisons_of(js, key=entry)
        entries = sorted({x for a, b, _ in by_entry for x in (a, b)})
        by_poem = bt_with_ci(comps, poems, resamples=resamples, seed=seed)
        strengths = bt_with_ci(by_entry, entries, resamples=resamples, seed=seed)
        poem_strength.setdefault(axis, {}).update({p: v["strength"] for p, v in by_poem.items()})
        per_contest.append({"topic": topic, "axis": axis, "judgements": len(js), "comparisons": len(by_entry),
                            "annotators": sorted({j["annotator"] for j in js}), "poems": by_poem,
                            "models": strengths, **verdict(strengths)})
    axes = sorted({a for _, a in contests})
    overall, wins, ties, small = {}, {}, {}, {}
    for axis in axes:
        js = [j for (t, a), v in contests.items() if a == axis for j in v]
        comps = comparisons_of(js, key=entry)
        entries = sorted({x for a, b, _ in comps for x in (a, b)})
        overall[axis] = bt_with_ci(comps, entries, resamples=resamples, seed=seed)
        mine = [c for c in per_contest if c["axis"] == axis]
        wins[axis] = {m: sum(c["winner"] == m for c in mine) for m in entries}
        ties[axis] = sum(bool(c["tie"]) for c in mine)
        small[axis] = sum(c["too_small"] for c in mine)
    rho_axes = []
    for i, a in enumerate(axes):
        for b in axes[i + 1:]:
            r = spearman(poem_strength[a], poem_strength[b])
            if r:
                rho_axes.append({"a": a, "b": b, **r})
    rho_reward = {rm: {a: spearman(poem_strength[a], by_poem) for a in axes} for rm, by_poem in (rewards or {}).items()}
    return {"judgements": len(judgements), "malformed": list(problems), "contests": per_contest, "models": overall,
            "wins": wins, "ties": ties, "too_small": small, "min_comparisons": MIN_COMPARISONS, "tie_tol": TIE_TOL,
            "runs_apart": split, "agreement": agreement(judgements), "control": control_accuracy(judgements),
            "judges": judge_bias(judgements), "spearman_axes": rho_axes, "spearman_reward": rho_reward}
