"""Pairwise judgements -> rankings and agreement (West & Potts 2025, Section 4). No torch.

- Bradley-Terry strengths per contest (topic x axis) and per axis, with bootstrap 95% CIs, and each
  contest's winner (`bradley_terry`: the leader, when the interval of its lead over every other entry
  excludes 0, else no clear winner);
- per axis, Cohen's kappa (`sklearn.metrics.cohen_kappa_score`) for every two annotators on the
  pairs (the same two poems) both decided, and Krippendorff's alpha (`krippendorff.alpha`, nominal)
  with three or more; each undefined value comes with its reason;
- exact judges' position bias (`judge_bias`), control accuracy per annotator;
- Spearman's rho (`scipy.stats.spearmanr`) between axes and against reward-model scores;
- `rank` puts it all together (`poetry_files.read_judgements` reads the files).

No decision: an exact judge's reading P(left) within UNDECIDED_TOL of 0.5 decides nothing (`decision`).
A purely position-biased judge (P(first) = q in both orders) reads exactly 0.5 on every pair; calling
that "left" made its control pairs right or wrong by where the control sat and two such judges agree
perfectly (kappa +1). An undecided reading is left out of kappa, alpha and control accuracy (counted
and shown as undecided) and kept, fractional, in Bradley-Terry. UNDECIDED_TOL = 1e-6 absolute: the
readings are ratios of float32 probabilities (machine epsilon 1.2e-7, a few operations each), so a
judge with no lean lands within a few 1e-7 of 0.5, while a lean of one part in a million is already
far below anything a ranking could use.

Entries: a model is one entry, named by its model; a model whose judged poems come from two or more
runs (the `#run` of poem ids: another seed, temperature or format) is one entry per run, `model@run`
(the run hash's first 6 characters), so runs are never pooled.
"""
from __future__ import annotations

import numpy as np

from ..errors import UserError
from .bradley_terry import LEVEL, MIN_COMPARISONS, RESAMPLES, TIE_TOL, bt_fit, verdict
from .stats import is_constant

POEM_RESAMPLES = 200   # the poems' strengths feed Spearman's rho only; their intervals (--json) rest on these

UNDECIDED_TOL = 1e-6  # |P(left) - 0.5| at most this: no decision (see the module's docstring)


def side_of(p_left: float) -> str | None:
    """An exact judge's decision: 'left', 'right', or None within UNDECIDED_TOL of 0.5."""
    return None if abs(float(p_left) - 0.5) <= UNDECIDED_TOL else "left" if p_left > 0.5 else "right"


def decision(j: dict) -> str | None:
    """'left', 'right' or None: a skip, or an exact judge's P(left) within UNDECIDED_TOL of 0.5 (read
    from P(left), so files written before 'undecided' existed read the same)."""
    if j["choice"] == "skip":
        return None
    if j.get("p_left") is not None:
        return side_of(j["p_left"])
    return j["choice"] if j["choice"] in ("left", "right") else None


def undecided(j: dict) -> bool:
    """A judgement made (not a skip) that decides nothing."""
    return j["choice"] != "skip" and decision(j) is None


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
    id won, 1 otherwise, None when the judgement decided nothing (`decision`); skips left out. Pairs are
    keyed by their poems (`pair_key`), so annotators are compared on the same two poems whatever
    schedule showed them; an annotator's later judgement of a pair wins."""
    out: dict = {}
    for j in judgements:
        if j["choice"] == "skip" or j.get("control"):
            continue
        side = decision(j)
        first = min(j["left"], j["right"])
        key = pair_key(j["axis"], j["left"], j["right"])
        out.setdefault(j["annotator"], {})[key] = None if side is None else 0 if j[side] == first else 1
    return out


def kappas(judgements: list[dict]) -> list[dict]:
    """Cohen's kappa of every two annotators who both judged two or more pairs, on judgements of one
    axis, over the pairs both decided (`undecided`: the shared pairs one or both left undecided);
    `kappa` None with a `note` where it is undefined."""
    from sklearn.metrics import cohen_kappa_score
    labels = pair_labels(judgements)
    names = sorted(labels)
    out = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            shared = sorted(set(labels[a]) & set(labels[b]))
            if len(shared) < 2:
                continue
            both = [p for p in shared if labels[a][p] is not None and labels[b][p] is not None]
            x, y = [labels[a][p] for p in both], [labels[b][p] for p in both]
            row = {"a": a, "b": b, "items": len(both), "undecided": len(shared) - len(both), "kappa": None,
                   "agreement": float(np.mean(np.equal(x, y))) if both else None, "note": None}
            if len(both) < 2:
                row["note"] = f"undefined: {len(both)} of the {len(shared)} shared pairs decided by both"
            elif len(set(x) | set(y)) == 1:
                row["note"] = "undefined: both gave one and the same answer on every shared pair"
            else:
                row["kappa"] = float(cohen_kappa_score(x, y))
            out.append(row)
    return out


def krippendorff_alpha(judgements: list[dict]) -> dict:
    """Nominal Krippendorff's alpha over annotators x pairs (missing where not judged or undecided), on
    judgements of one axis: {"alpha" (None where undefined), "annotators", "pairs" (the pairs alpha
    reads: decided by two or more annotators, as kappa's pairs are decided by both), "undecided"
    (readings left out), "note" (why undefined)}."""
    labels = pair_labels(judgements)
    pairs = sorted({p for v in labels.values() for p in v})
    data = np.array([[_nan(labels[a].get(p)) for p in pairs] for a in sorted(labels)], dtype=float)
    out = {"alpha": None, "annotators": len(labels), "note": None,
           "pairs": int((np.isfinite(data).sum(axis=0) >= 2).sum()) if len(pairs) else 0,
           "undecided": sum(x is None for v in labels.values() for x in v.values())}
    if len(labels) < 3:
        return {**out, "note": "needs 3 or more annotators (Cohen's kappa covers two)"}
    if np.isfinite(data).sum(axis=0).max(initial=0) < 2:
        return {**out, "note": "no pair was decided by two or more annotators"}
    pairable = data[:, np.isfinite(data).sum(axis=0) >= 2]       # alpha reads only pairs two or more decided
    if len(np.unique(pairable[np.isfinite(pairable)])) < 2:
        return {**out, "note": "undefined: every annotator gave the same answer on every pair two or more decided "
                               "(no variation)"}
    try:
        import krippendorff
    except ImportError:
        raise UserError('agreement needs krippendorff: pip install -e ".[creativity]"') from None
    alpha = float(krippendorff.alpha(reliability_data=data, level_of_measurement="nominal"))
    if alpha != alpha:
        return {**out, "note": "undefined: no disagreement is possible on the pairs two or more decided"}
    return {**out, "alpha": alpha}


def _nan(label):
    return np.nan if label is None else label


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
    """{annotator: {"controls", "correct", "accuracy", "flag", "undecided"}}: controls = control pairs
    decided (the poem or the bag of words chosen), accuracy over those (None without any), flag below
    100%; undecided = control pairs judged without a decision, counted apart."""
    out: dict = {}
    for j in judgements:
        if j.get("control") and j["choice"] != "skip":
            d = out.setdefault(j["annotator"], {"controls": 0, "correct": 0, "undecided": 0})
            side = decision(j)
            if side is None:
                d["undecided"] += 1
                continue
            d["controls"] += 1
            d["correct"] += j[side] != "control"
    for d in out.values():
        d["accuracy"] = d["correct"] / d["controls"] if d["controls"] else None
        d["flag"] = d["accuracy"] is not None and d["accuracy"] < 1.0
    return out


def spearman(x: dict, y: dict, *, atol: tuple = (None, None)) -> dict | None:
    """rho and p over the keys both have (at least 3). Values closer than an axis's tolerance are ties:
    `atol` per axis (Bradley-Terry log-strengths: TIE_TOL, so a fit's float noise, 1e-16 where every
    poem is even, is no order), or None: 1e-9 of the axis's largest |value| (rewards, scores: any
    scale). Where an axis spans no more than that (`stats.is_constant`) rho and p are None (scipy's nan,
    which JSON cannot hold) and `undefined` says why."""
    from scipy import stats
    keys = sorted(set(x) & set(y))
    if len(keys) < 3:
        return None
    a, b = (np.array([v[k] for k in keys], dtype=np.float64) for v in (x, y))
    if is_constant(a, atol[0]) or is_constant(b, atol[1]):
        return {"rho": None, "p": None, "n": len(keys), "undefined": "an axis is constant"}
    a, b = _snapped(a, atol[0]), _snapped(b, atol[1])
    res = stats.spearmanr(a, b)
    return {"rho": float(res.statistic), "p": float(res.pvalue), "n": len(keys)}


def _snapped(v: np.ndarray, atol: float | None) -> np.ndarray:
    """`v` on a grid of `atol` (None: 1e-9 of its largest |value|), so values closer than that tie."""
    q = atol if atol is not None else 1e-9 * float(np.abs(v).max())
    return np.round(v / q) * q if q > 0 else v


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


def distinct_annotators(judgements: list[dict]) -> list[dict]:
    """The judgements, an exact judge run with several settings (records' `settings_hash`) split into
    one annotator per setting (`judge:m@1a2b3c`), so its runs are never pooled."""
    hashes: dict = {}
    for j in judgements:
        hashes.setdefault(j["annotator"], set()).add(j.get("settings_hash"))
    return [{**j, "annotator": f"{j['annotator']}@{str(j.get('settings_hash'))[:6]}"}
            if len(hashes[j["annotator"]]) > 1 else j for j in judgements]


def rank(judgements: list[dict], *, problems=(), rewards: dict | None = None, seed=0, resamples=RESAMPLES) -> dict:
    """Per contest (topic x axis): Bradley-Terry strengths of poems and entries (models, or model@run)
    with bootstrap CIs and n, and its verdict (`bradley_terry.verdict`: winner, or no clear winner and
    its contenders, too small); per axis: entry strengths over all topics and their verdict, contests
    won per entry (a contest with no clear winner, or too small to rank, counts for no one: `no_winner`),
    Cohen's kappa and Krippendorff's alpha; control accuracy per annotator; exact judges' position bias;
    Spearman's rho between axes and against `rewards` ({reward model: {poem id: reward}})."""
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
        by_poem, _ = bt_fit(comps, poems, resamples=min(resamples, POEM_RESAMPLES), seed=seed)
        strengths, margins = bt_fit(by_entry, entries, resamples=resamples, seed=seed)
        poem_strength.setdefault(axis, {}).update({p: v["strength"] for p, v in by_poem.items()})
        per_contest.append({"topic": topic, "axis": axis, "judgements": len(js), "comparisons": len(by_entry),
                            "annotators": sorted({j["annotator"] for j in js}), "poems": by_poem,
                            "undecided": sum(map(undecided, js)), "models": strengths, **verdict(strengths, margins)})
    axes = sorted({a for _, a in contests})
    overall, overall_verdict, wins, no_winner, small = {}, {}, {}, {}, {}
    for axis in axes:
        js = [j for (t, a), v in contests.items() if a == axis for j in v]
        comps = comparisons_of(js, key=entry)
        entries = sorted({x for a, b, _ in comps for x in (a, b)})
        overall[axis], margins = bt_fit(comps, entries, resamples=resamples, seed=seed)
        overall_verdict[axis] = verdict(overall[axis], margins)
        mine = [c for c in per_contest if c["axis"] == axis]
        wins[axis] = {m: sum(c["winner"] == m for c in mine) for m in entries}
        no_winner[axis] = sum(c["winner"] is None for c in mine)
        small[axis] = sum(c["too_small"] for c in mine)
    rho_axes = []
    for i, a in enumerate(axes):
        for b in axes[i + 1:]:
            r = spearman(poem_strength[a], poem_strength[b], atol=(TIE_TOL, TIE_TOL))
            if r:
                rho_axes.append({"a": a, "b": b, **r})
    rho_reward = {rm: {a: spearman(poem_strength[a], by_poem, atol=(TIE_TOL, None)) for a in axes}
                  for rm, by_poem in (rewards or {}).items()}
    return {"judgements": len(judgements), "malformed": list(problems), "contests": per_contest, "models": overall,
            "overall": overall_verdict, "wins": wins, "no_winner": no_winner, "too_small": small,
            "min_comparisons": MIN_COMPARISONS, "tie_tol": TIE_TOL, "level": LEVEL, "resamples": resamples, "seed": seed,
            "undecided_tol": UNDECIDED_TOL,
            "undecided": sum(map(undecided, judgements)), "runs_apart": split, "agreement": agreement(judgements),
            "control": control_accuracy(judgements), "judges": judge_bias(judgements), "spearman_axes": rho_axes,
            "spearman_reward": rho_reward}
