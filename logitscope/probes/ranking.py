"""Pairwise judgements -> rankings and agreement (West & Potts 2025, Section 4). No torch.

- Bradley-Terry strengths with `choix.ilsr_pairwise_dense` on a matrix of (possibly fractional)
  wins: a person's judgement adds 1 to its winner, an exact model judge adds P(left) and
  P(right); log-strengths centred to mean 0, with bootstrap 95% CIs (judgements resampled: one
  comparison per judgement, never its two halves apart);
- per axis, Cohen's kappa (`sklearn.metrics.cohen_kappa_score`) for every two annotators on the
  pairs (the same two poems) both judged, and Krippendorff's alpha (`krippendorff.alpha`, nominal)
  with three or more; each undefined value comes with its reason;
- exact judges' position bias (`judge_bias`), control accuracy per annotator;
- Spearman's rho (`scipy.stats.spearmanr`) between axes and against reward-model scores;
- `read_judgements` reads judgement files (JSON lines), `rank` puts it all together.
"""
from __future__ import annotations

import json
from pathlib import Path

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
    s = _choix().ilsr_pairwise_dense(win_matrix(comparisons, items), alpha=ALPHA)
    return s - s.mean()


def bt_with_ci(comparisons: list[tuple], items: list, *, resamples: int = 200, seed: int = 0) -> dict:
    """{item: {"strength", "lo", "hi"}} with bootstrap 95% percentile intervals: the comparisons
    (one per judgement, see `comparisons_of`) are resampled with replacement."""
    est = bt_strengths(comparisons, items)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(resamples if comparisons else 0):
        idx = rng.integers(0, len(comparisons), len(comparisons))
        boots.append(bt_strengths([comparisons[i] for i in idx], items))
    lo, hi = (np.percentile(boots, [2.5, 97.5], axis=0) if boots else (est, est))
    return {x: {"strength": float(est[i]), "lo": float(lo[i]), "hi": float(hi[i])} for i, x in enumerate(items)}


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
    """rho and p over the keys both have (at least 3)."""
    from scipy import stats
    keys = sorted(set(x) & set(y))
    if len(keys) < 3:
        return None
    res = stats.spearmanr([x[k] for k in keys], [y[k] for k in keys])
    return {"rho": float(res.statistic), "p": float(res.pvalue), "n": len(keys)}


def model_of(poem_id: str) -> str:
    return poem_id.rsplit("|", 2)[0]


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
    """Per contest (topic x axis): Bradley-Terry strengths of poems and models with bootstrap CIs and the
    winner; per axis: model strengths over all topics, wins per model, Cohen's kappa and Krippendorff's
    alpha; control accuracy per annotator; exact judges' position bias; Spearman's rho between axes and
    against `rewards` ({reward model: {poem id: reward}})."""
    judgements = distinct_annotators(judgements)
    contests: dict = {}
    for j in judgements:
        contests.setdefault((str(j.get("topic", "?")).lower(), j["axis"]), []).append(j)
    per_contest, poem_strength = [], {}
    for (topic, axis), js in sorted(contests.items()):
        comps = comparisons_of(js)
        poems = sorted({x for a, b, _ in comps for x in (a, b)})
        models = sorted({model_of(p) for p in poems})
        by_poem = bt_with_ci(comps, poems, resamples=resamples, seed=seed)
        by_model = bt_with_ci(comparisons_of(js, key=model_of), models, resamples=resamples, seed=seed)
        poem_strength.setdefault(axis, {}).update({p: v["strength"] for p, v in by_poem.items()})
        per_contest.append({"topic": topic, "axis": axis, "judgements": len(js),
                            "annotators": sorted({j["annotator"] for j in js}), "poems": by_poem, "models": by_model,
                            "winner": max(by_model, key=lambda m: by_model[m]["strength"]) if by_model else None})
    axes = sorted({a for _, a in contests})
    overall, wins = {}, {}
    for axis in axes:
        js = [j for (t, a), v in contests.items() if a == axis for j in v]
        models = sorted({model_of(x) for j in js for x in (j["left"], j["right"]) if x != "control"})
        overall[axis] = bt_with_ci(comparisons_of(js, key=model_of), models, resamples=resamples, seed=seed)
        wins[axis] = {m: sum(c["winner"] == m for c in per_contest if c["axis"] == axis) for m in models}
    rho_axes = []
    for i, a in enumerate(axes):
        for b in axes[i + 1:]:
            r = spearman(poem_strength[a], poem_strength[b])
            if r:
                rho_axes.append({"a": a, "b": b, **r})
    rho_reward = {rm: {a: spearman(poem_strength[a], by_poem) for a in axes} for rm, by_poem in (rewards or {}).items()}
    return {"judgements": len(judgements), "malformed": list(problems), "contests": per_contest, "models": overall,
            "wins": wins, "agreement": agreement(judgements), "control": control_accuracy(judgements),
            "judges": judge_bias(judgements), "spearman_axes": rho_axes, "spearman_reward": rho_reward}
