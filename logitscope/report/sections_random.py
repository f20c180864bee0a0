"""Report sections for West & Potts 2025's randomness experiments: answer distributions (Figure 2),
paraphrases and letters (Tables 3, 5, 6), temperature and top-p (Figure 7, Table 4), sequences
(Table 1, Figures 3 and 6), games (Table 2, Figure 4) and reward per answer (Table 7). Each
function returns a Section, or None when there are no results of its kind."""
from __future__ import annotations

from . import study
from .page import Section


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


def answers(res) -> Section | None:
    runs = res.of("integers", "letters")
    if not _units(runs):
        return None
    s = Section("answers", "Answer distributions (Figure 2)")
    s.text("Exact answer distributions P(answer | valid), every tokenisation counted; the expected chi-square "
           "is for 1500 valid samples, the sampled one is drawn from the exact distribution with the run's seed.")
    plt = _plt()
    for task in ("integers", "letters"):
        first = {}
        for r, u in _units(res.of(task)):
            if u["paraphrase"] == 0 and u["temperature"] == 1.0 and u["top_p"] == 1.0:
                first.setdefault((r.model, r.config.get("format")), u)
        if not first:
            continue
        labels = list(next(iter(first.values()))["probs"])
        fig, ax = plt.subplots(figsize=(max(6, len(labels) * 0.75), 3.4))
        width = 0.8 / len(first)
        for j, ((model, fmt), u) in enumerate(first.items()):
            ax.bar([i + j * width for i in range(len(labels))], [u["probs"][a] for a in labels], width,
                   label=f"{model} ({fmt}; valid {u['valid_mass']:.2f})")
        ax.axhline(1 / len(labels), color="gray", ls="--", lw=0.8, label="uniform")
        ax.set_xticks([i + 0.4 - width / 2 for i in range(len(labels))], labels)
        ax.set_ylabel("P(answer | valid)"), ax.legend(fontsize=7)
        ax.set_title(f"{task}: the study's prompt, T=1, top-p=1", fontsize=9)
        s.figure(fig, f"{task}: exact answer distribution per model and format", f"answers-{task}")
    rows = [[r.model, r.config.get("format"), r.task, u["paraphrase"], f"{u['temperature']:g}",
             f"{u['top_p']:g}", f"{u['valid_mass']:.3f}", _f(u["entropy_bits"], ".3f"), _f(u["chi2_expected"]),
             _f(u["chi2_sampled"]), u["mode"]] for r, u in _units(runs)]
    s.table(["model", "format", "task", "paraphrase", "T", "top-p", "valid", "H bits", "E[chi2]", "chi2", "mode"],
            rows, "every setting of every run")
    s.provenance(runs)
    return s


def paraphrases(res) -> Section | None:
    ints = [(r, u) for r, u in _units(res.of("integers")) if u["temperature"] == 1.0 and u["top_p"] == 1.0]
    lets = [(r, u) for r, u in _units(res.of("letters")) if u["temperature"] == 1.0 and u["top_p"] == 1.0]
    if not ints and not lets:
        return None
    s = Section("paraphrases", "Paraphrases and letters (Tables 3, 5, 6)")
    if ints:
        per: dict = {}
        for r, u in ints:
            per.setdefault(r.model, {})[u["paraphrase"]] = u["chi2_sampled"]
        n = max(p for v in per.values() for p in v) + 1
        rows = []
        for model, by in per.items():
            rows.append([model, *[_f(by.get(p), ".0f") for p in range(n)]])
            name = study.study_name(model)
            if name in study.TABLE3:
                rows.append([f"  study (Table 3, {name})", *[str(x) for x in study.TABLE3[name][:n]]])
            if name in study.TABLE5:
                rows.append([f"  study (Table 5, {name}, paraphrase 0)", str(study.TABLE5[name])])
        s.table(["model", *[f"paraphrase {p}" for p in range(n)]], rows,
                "integers 0-10: sampled chi-square vs uniform (1500 valid samples; paraphrases 1-4 are ours)")
    if lets:
        rows = []
        for r, u in lets:
            if u["paraphrase"] != 0:
                continue
            name = study.study_name(r.model)
            ref = study.TABLE6.get(name)
            rows.append([r.model, _f(u["chi2_sampled"], ".0f"), u["mode"], f"{ref[0]} ({ref[1]})" if ref else "-"])
        s.table(["model", "chi2", "mode", "study (Table 6)"], rows, "letters a-k")
    s.provenance(list({str(r.path): r for r, _ in ints + lets}.values()))
    return s


def temperature(res) -> Section | None:
    units = [(r, u) for r, u in _units(res.of("integers", "letters"))]
    models = {}
    for r, u in units:
        models.setdefault((r.task, r.model), set()).add((u["temperature"], u["top_p"]))
    if not any(len(v) > 1 for v in models.values()):
        return None
    s = Section("temperature", "Temperature and top-p (Figure 7, Table 4)")
    s.text("Temperature and top-p act on every step's distribution before marginalising. Higher temperature "
           "raises entropy but sends mass outside the valid answers (the valid column).")
    plt = _plt()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.4))
    rows = []
    for (task, model), settings in models.items():
        pts = sorted((u["temperature"], u) for r, u in units if r.task == task and r.model == model
                     and u["top_p"] == 1.0 and u["paraphrase"] == 0)
        if len(pts) > 1:
            a1.plot([t for t, _ in pts], [u["entropy_bits"] for _, u in pts], marker="o", label=f"{model} {task}")
            a2.plot([t for t, _ in pts], [u["chi2_expected"] for _, u in pts], marker="o", label=f"{model} {task}")
        for r, u in units:
            if r.task == task and r.model == model and u["paraphrase"] == 0:
                ref = study.TABLE4.get((study.study_name(model), u["temperature"], u["top_p"]))
                rows.append([model, task, f"{u['temperature']:g}", f"{u['top_p']:g}", f"{u['valid_mass']:.3f}",
                             _f(u["next_token_entropy_bits"], ".2f"), _f(u["chi2_expected"], ".0f"),
                             "-" if ref is None else str(ref)])
    a1.set_xlabel("temperature"), a1.set_ylabel("answer entropy (bits)"), a1.legend(fontsize=7)
    a2.set_xlabel("temperature"), a2.set_ylabel("expected chi-square"), a2.set_yscale("log")
    s.figure(fig, "answer entropy and expected chi-square against temperature (top-p 1)", "temperature")
    s.table(["model", "task", "T", "top-p", "valid", "next-token H", "E[chi2]", "study (Table 4)"], rows,
            "the temperature x top-p grid")
    s.provenance([r for r in res.of("integers", "letters")])
    return s


def sequences(res) -> Section | None:
    runs = [r for r in res.of("sequences") if r.summary]
    if not runs:
        return None
    import numpy as np
    s = Section("sequences", "Sequences of ten integers (Table 1, Figures 3 and 6)")
    rows = []
    for r in runs:
        m = r.summary
        ref = study.TABLE1.get(study.study_name(r.model))
        rows.append([r.model, f"{m['temperature']:g}", m["parsed"], m["unparseable"], _f(m["repeat_mode"], "d"),
                     _f(m["mean_repeats"], ".2f"), _f(m["repeat_mse_vs_uniform"], ".4f"), _f(m["chi2"], ".1f"),
                     "-" if ref is None else str(ref)])
    s.table(["model", "T", "parsed", "unparseable", "mode repeats", "mean repeats", "MSE vs uniform", "chi2",
             "study chi2 (Table 1)"], rows, "repeats per sequence (a uniform sequence has mode 3)")
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    ax.plot(range(10), runs[0].summary["uniform_repeat_histogram"], "k--", lw=1, label="uniform (10,000 sequences)")
    for r in runs:
        ax.plot(range(10), r.summary["repeat_histogram"], marker="o", label=r.model)
    ax.set_xlabel("repeated numbers in a sequence"), ax.set_ylabel("share of sequences"), ax.legend(fontsize=7)
    s.figure(fig, "repeats per sequence against uniform (Figure 3)", "sequence-repeats")
    fig, axes = plt.subplots(1, len(runs), figsize=(3.4 * len(runs), 3.2), squeeze=False)
    for ax, r in zip(axes[0], runs):
        ax.imshow(np.array(r.summary["position_counts"]), aspect="auto", origin="lower", cmap="viridis")
        ax.set_title(r.model, fontsize=8), ax.set_xlabel("position"), ax.set_ylabel("value")
    s.figure(fig, "value x position counts (Figure 6)", "sequence-positions")
    s.provenance(runs)
    return s


def games(res) -> Section | None:
    runs = [r for r in res.of("determinism-rps", "determinism-hide-seek") if r.summary]
    if not runs:
        return None
    s = Section("games", "Games against a greedy adversary (Table 2, Figure 4)")
    s.text("Net score = wins - losses per round x 100 with its 95% t-interval over games; determinism = the "
           "probability of the model's most likely move (1/3 uniform in RPS).")
    rows = []
    for r in runs:
        m = r.summary
        lo, hi = m["net_score_ci95"]
        ref = study.TABLE2.get(study.study_name(r.model))
        ref_net = None if ref is None else (ref[3] if m["game"] == "rps" else ref[6])
        ref_net = study.UNIFORM_GAMES[m["game"]] if m["model"] == "uniform" else ref_net
        rows.append([m["game"], r.model, m["adversary"], m["games"], f"{m['win_rate']:.1f}", f"{m['tie_rate']:.1f}",
                     f"{m['loss_rate']:.1f}", f"{m['net_score']:+.1f} [{_f(lo, '+.1f')}, {_f(hi, '+.1f')}]",
                     f"{m['determinism']:.3f}", _f(ref_net, "+.1f")])
    s.table(["game", "model", "adversary", "games", "win %", "tie %", "loss %", "net (95% CI)", "determinism",
             "study net"], rows, "outcome rates in % (Table 2 layout)")
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 3.2))
    width = 0.8 / len(runs)
    for j, r in enumerate(runs):
        after = r.summary["determinism_after"]
        ax.bar([i + j * width for i in range(3)], [after[o] or 0 for o in ("win", "tie", "loss")], width,
               label=f"{r.model} ({r.summary['game']})")
    ax.set_xticks([i + 0.4 - width / 2 for i in range(3)], ["after a win", "after a tie", "after a loss"])
    ax.set_ylabel("P(most likely move)"), ax.legend(fontsize=7)
    s.figure(fig, "determinism by the previous round's outcome (Figure 4)", "games-determinism")
    s.provenance(runs)
    return s


def reward(res) -> Section | None:
    runs = [r for r in res.of("reward") if r.summary]
    if not runs:
        return None
    s = Section("reward", "Reward per answer (Table 7)")
    for r in runs:
        m = r.summary
        labels = list(m["rewards"])
        rows = [["reward", *[f"{m['rewards'][a]:.2f}" for a in labels], ""]]
        ref = study.TABLE7.get(study.study_name(m["reward_model"]))
        if ref and len(ref) == len(labels):
            rows.append(["study (Table 7)", *[f"{x:.2f}" for x in ref], ""])
        for mm in m.get("models", []):
            rows.append([f"P | valid: {mm['model']}", *[f"{mm['probs'][a]:.3f}" for a in labels],
                         _f(mm["spearman"], "+.2f")])
        s.table(["", *labels, "Spearman with reward"], rows, f"{m['task']}: {m['reward_model']} on {m['prompt']!r}")
    s.provenance(runs)
    return s
