"""Report sections for West & Potts 2025's sequences (Table 1, Figures 3 and 6), games (Table 2,
Figure 4) and reward per answer (Table 7), and the helpers every section shares. Every (model,
settings, n) is its own row: a result file holds each run of its config, one summary per run.
Answer distributions, paraphrases and temperature are in `sections_answers`. Each function returns
a Section, or None when there are no results of its kind."""
from __future__ import annotations

from . import references, study
from .collect import differing, run_format
from .page import Section
from .numbers import CONSTANT_AXIS, corr, prob
from .plots import heatmap, model_colour


def _f(x, spec=".1f"):
    return "-" if x is None else format(x, spec)


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _units(runs):
    """(run, unit) for every unit record of the runs (single-answer tasks)."""
    return [(r, u) for r in runs for u in r.units if "probs" in u]


def sequences(res) -> Section | None:
    rows_ = res.sized("sequences", "sequences")
    if not rows_:
        return None
    import numpy as np

    from ..probes.stats import expected_repeats
    s = Section("sequences", "Sequences of ten integers (Table 1, Figures 3 and 6)")
    s.text(f"A sequence counts when its first ten numbers are all in 0..10 (parsed); repeats = numbers that repeat "
           f"an earlier one in the sequence. A uniform source repeats {expected_repeats():.2f} times per sequence "
           "on average (mode 3): closer to that is more random.")
    rows = []
    for r, m in rows_:
        ref = study.TABLE1.get(study.study_name(r.model))
        rows.append([r.model, run_format(r), f"{m['temperature']:g}", f"{m['top_p']:g}", m["sequences"],
                     m["parsed"], _f(m["repeat_mode"], "d"), _f(m["mean_repeats"], ".3f"),
                     _f(None if m["mean_repeats"] is None else abs(m["mean_repeats"] - expected_repeats()), ".3f"),
                     prob(m["repeat_mse_vs_uniform"], 4), _f(m["chi2"], ".1f"), "-" if ref is None else str(ref)])
    s.table(["model", "format", "T", "top-p", "n", "parsed", "mode repeats", "mean repeats", "|mean - 3.24|",
             "MSE vs uniform", "chi2", "this model in the study (Table 1)"], rows,
            "repeats per sequence, one row per run (n = sequences asked for)")
    references.sequences(s)
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    ax.plot(range(10), rows_[0][1]["uniform_repeat_histogram"], "k--", lw=1, label="uniform (10,000 sequences)")
    for r, m in rows_:
        ax.plot(range(10), m["repeat_histogram"], marker="o", color=model_colour(r.model),
                label=f"{r.model} (T={m['temperature']:g}, {m['parsed']} parsed of {m['sequences']})")
    ax.set_xlabel("repeated numbers in a sequence"), ax.set_ylabel("share of parsed sequences")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    s.figure(fig, "repeats per sequence against uniform (Figure 3)", "sequence-repeats")
    fig, axes = plt.subplots(1, len(rows_), figsize=(3.8 * len(rows_), 3.2), squeeze=False)
    for ax, (r, m) in zip(axes[0], rows_):
        heatmap(fig, ax, np.array(m["position_counts"]), f"{r.model}\nT={m['temperature']:g}, n={m['sequences']}")
    s.figure(fig, "value x position counts of the parsed sequences (Figure 6)", "sequence-positions")
    s.provenance(res.of("sequences"))
    return s


def games(res) -> Section | None:
    rows_ = res.sized("determinism-rps", "games") + res.sized("determinism-hide-seek", "games")
    if not rows_:
        return None
    from ..probes.determinism import NET_CI, OUTCOMES
    from .numbers import GAME_HEADERS, GAME_LEGEND, game_cells
    s = Section("games", "Games against a greedy adversary (Table 2, Figure 4)")
    s.text(f"Table 2's outcomes and Figure 4's determinism per run. The net score's 95% CI is a "
           f"{NET_CI.replace('95% ', '')}, inside the score's range.")
    rows = []
    for r, m in rows_:
        lo, hi = _net_ci(r, m)
        ref = study.TABLE2.get(study.study_name(r.model))
        ref_net = None if ref is None else (ref[3] if m["game"] == "rps" else ref[6])
        ref_net = study.UNIFORM_GAMES[m["game"]] if m["model"] == "uniform" else ref_net
        rows.append([m["game"], r.model, run_format(r), m["adversary"], m["games"], m["rounds"],
                     *[_keep(c) for c in game_cells(m, (lo, hi), _after_n(r, m))],
                     _f(ref_net, "+.1f")])
    s.table(["game", "model", "format", "adversary", "games", "rounds", *GAME_HEADERS, "this model in the study (net)"],
            rows, "one row per run; the columns as `probe determinism` prints them, defined below the table")
    for line in GAME_LEGEND:
        s.text(line[0].upper() + line[1:] + ".")
    references.games(s)
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 3.2))
    width = 0.8 / len(rows_)
    seen: dict = {}
    diff = differing(res.of("determinism-rps", "determinism-hide-seek"), skip=("rounds", "game"))
    for j, (r, m) in enumerate(rows_):
        after = m["determinism_after"]
        k = seen[r.model] = seen.get(r.model, -1) + 1           # a model's second run hatched, third dotted...
        ax.bar([i + j * width for i in range(3)], [after[o] or 0 for o in OUTCOMES], width,
               color=model_colour(r.model), hatch=("", "//", "..", "xx")[k % 4], edgecolor="white",
               label=f"{r.model} ({m['game']}, {m['games']} games x {m['rounds']} rounds"
                     + (f"; {diff[r.path]})" if diff.get(r.path) else ")"))
        for i, o in enumerate(OUTCOMES):
            if after[o] is None:                                # that outcome never came before a round
                ax.text(i + j * width, 0.02, "none", rotation=90, ha="center", va="bottom", fontsize=6, color="#555")
    ax.set_xticks([i + 0.4 - width / 2 for i in range(3)], [f"after a {o}" for o in OUTCOMES])
    ax.set_ylabel("P(most likely move)"), ax.set_ylim(0, 1)
    ax.set_title("Determinism by the previous round's outcome (Figure 4)", fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    s.figure(fig, "determinism by the previous round's outcome (Figure 4)", "games-determinism")
    s.provenance(res.of("determinism-rps", "determinism-hide-seek"))
    return s


def _net_ci(r, m) -> list:
    """The net score's CI of one run (n = m["games"]): NET_CI over the file's games 0..n-1 (the games
    this summary counted); where the file lacks some of them, the interval the summary recorded if it
    is that same bootstrap, else none (an earlier version recorded a t-interval, which can leave
    [-100, 100])."""
    from ..probes.determinism import net_ci, net_scores
    games = r.first_units("game", m["games"], "outcomes")
    if games is not None:
        ci = net_ci(net_scores(games))
    else:
        ci = m["net_score_ci95"] if m.get("net_score_ci_method") else [None, None]
    return [None if x is None or x != x else x for x in ci]


def _keep(cell: str) -> str:
    """A games cell for a narrow page: an interval and 'N of M' never broken inside (no-break spaces);
    a cell may still break before its interval or its count."""
    return cell.replace(", ", ",\u00a0").replace(" of ", "\u00a0of\u00a0")


def _after_n(r, m) -> dict | None:
    """The rounds behind each `determinism_after` of a summary written before it recorded them,
    counted from the file's games 0..n-1 (None where the file lacks some)."""
    from ..probes.determinism import after_counts
    if m.get("determinism_after_rounds"):
        return None
    games = r.first_units("game", m["games"], "outcomes")
    return None if games is None else after_counts(games)


def reward(res) -> Section | None:
    runs = [r for r in res.of("reward") if r.summary]
    if not runs:
        return None
    s = Section("reward", "Reward per answer (Table 7)")
    for r in runs:
        m = r.summary
        labels = list(m["rewards"])
        rows = [["reward", *[f"{m['rewards'][a]:.2f}" for a in labels], ""]]
        ref = study.TABLE7.get(study.study_name(m["reward_model"])) if m["task"] == "integers" else None
        if ref and labels == [str(i) for i in range(len(ref))]:     # Table 7 is per integer 0..10, nothing else
            rows.append(["this reward model in the study (Table 7)", *[f"{x:.2f}" for x in ref], ""])
        notes = []
        for mm in m.get("models", []):
            rows.append([f"P | valid: {mm['model']}", *[prob(mm["probs"][a]) for a in labels],
                         corr(mm["spearman"], short=True)])
            if mm["spearman"] is None:
                notes.append(f"{mm['model']}: Spearman {mm.get('correlation_note', CONSTANT_AXIS)}")
        s.table(["", *labels, "Spearman with reward"], rows,
                "; ".join([f"{m['task']}: {m['reward_model']} on {m['prompt']!r}", *notes]))
    if any(r.summary["task"] != "integers" for r in runs):
        s.text("The study publishes reward per integer answer (0-10) only: there is no per-letter reward to set "
               "beside letters, so their tables have no study row.")
    if any(r.summary["task"] == "integers" for r in runs):
        references.reward(s)
    s.provenance(runs)
    return s
