"""Rank poems and models from contest judgements (people and exact model judges together).

Per contest (topic x axis): Bradley-Terry strengths of every poem and of every model (a model's
poems pooled) with bootstrap 95% CIs, and the winning model; per axis: model strengths over all
topics and the wins per model (the study's Figure 5, left); Cohen's kappa for every pair of
annotators on shared pairs (Krippendorff's alpha with more than two); control-pair accuracy per
annotator (flagged below 100%); Spearman's rho between axes (poem strengths) and against
reward-model scores. Malformed judgement lines are reported by file and line; the rest is used.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import UserError


def model_of(poem_id: str) -> str:
    return poem_id.rsplit("|", 2)[0]


def read_rewards(paths) -> dict:
    """{poem id: reward} from poetry result files (reward records) or JSON lines {poem_id, reward}."""
    from .results import jsonl_records
    return {rec["poem_id"]: float(rec["reward"]) for p in paths or [] for rec in jsonl_records(p)
            if "poem_id" in rec and "reward" in rec}


def run_rank(paths, *, rewards=None, seed=0, resamples=200) -> dict:
    from ..probes.ranking import bt_with_ci, comparisons_of, control_accuracy, kappas, krippendorff_alpha, spearman
    from .contest import read_judgements
    judgements, problems = read_judgements(paths)
    if not judgements:
        raise UserError("no usable judgements in " + ", ".join(map(str, paths)) +
                        (f" ({len(problems)} malformed lines)" if problems else ""))
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
    reward = read_rewards(rewards)
    rho_reward = {a: spearman(poem_strength[a], reward) for a in axes} if reward else {}
    return {"judgements": len(judgements), "malformed": problems, "contests": per_contest, "models": overall,
            "wins": wins, "kappa": kappas(judgements), "krippendorff_alpha": krippendorff_alpha(judgements),
            "control": control_accuracy(judgements), "spearman_axes": rho_axes, "spearman_reward": rho_reward}


def rank_figure(res: dict, path: Path):
    """Wins per model per axis (bars) and model strengths per axis with 95% CIs."""
    from ..report.plots import HINT, _plt, _save
    plt = _plt()
    if plt is None:
        return HINT
    import numpy as np
    axes = sorted(res["wins"])
    models = sorted({m for a in axes for m in res["models"][a]})
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.8))
    width = 0.8 / max(len(models), 1)
    for j, m in enumerate(models):
        x = np.arange(len(axes)) + j * width
        a1.bar(x, [res["wins"][a].get(m, 0) for a in axes], width, label=m)
        s = [res["models"][a].get(m, {"strength": np.nan, "lo": np.nan, "hi": np.nan}) for a in axes]
        a2.errorbar(x, [v["strength"] for v in s], yerr=[[v["strength"] - v["lo"] for v in s],
                                                         [v["hi"] - v["strength"] for v in s]],
                    fmt="o", capsize=3, label=m)
    for ax in (a1, a2):
        ax.set_xticks(np.arange(len(axes)) + 0.4 - width / 2, axes)
    a1.set_ylabel("contests won"), a1.set_title("wins per model and axis", fontsize=9)
    a2.set_ylabel("Bradley-Terry log-strength"), a2.set_title("model strength, 95% bootstrap CI", fontsize=9)
    a2.axhline(0, color="gray", lw=0.6)
    a1.legend(fontsize=7)
    return _save(fig, plt, path)
