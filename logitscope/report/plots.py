"""PNG figures for the randomness experiments. matplotlib is optional: without it the figures are
skipped with one hint line (the tables and JSON lines are still written)."""
from __future__ import annotations

from pathlib import Path

HINT = 'figures skipped: matplotlib is not installed (pip install -e ".[plots]")'

# One colour per model in every figure: fixed for the embedded pair and the oracle, else the colour
# PALETTE gives a hash of the model's registry name (or spec), the same in every process. Where two
# models of one figure (or of one report: `colour_context`) hash to the same colour, the later one in
# sorted order takes the next free colour.
FIXED = {"embedded:base": "#1f77b4", "embedded:aligned": "#ff7f0e", "uniform": "#7f7f7f"}
PALETTE = ("#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf", "#1b9e77", "#d95f02",
           "#7570b3", "#e7298a", "#66a61e", "#a6761d", "#393b79", "#637939", "#843c39")
_CONTEXT: list = []


def _key(name: str) -> str:
    from ..kernels.models.registry import lookup
    entry = lookup(name) if name else None
    return entry.name if entry is not None else str(name)


def model_colours(names) -> dict:
    """{name: colour} for the models of one figure, none sharing a colour (see above)."""
    import hashlib
    keys = {n: _key(n) for n in set(names) | set(_CONTEXT)}
    taken, by_key = set(FIXED.values()), {}
    for k in sorted(set(keys.values())):
        if k in FIXED:
            by_key[k] = FIXED[k]
            continue
        i = int(hashlib.sha256(k.encode()).hexdigest(), 16) % len(PALETTE)
        free = [PALETTE[(i + d) % len(PALETTE)] for d in range(len(PALETTE))]
        by_key[k] = next((c for c in free if c not in taken), PALETTE[i])
        taken.add(by_key[k])
    return {n: by_key[keys[n]] for n in names}


def model_colour(name: str) -> str:
    """The colour of a model in every figure (report and task PNGs): stable per model name, any
    spelling of a registry name giving the same colour."""
    return model_colours([name])[name]


class colour_context:
    """`with colour_context(models):` every figure drawn inside gives these models distinct colours
    (the report: all models of the results directory)."""

    def __init__(self, names):
        self.names = list(names)

    def __enter__(self):
        self.saved = list(_CONTEXT)
        _CONTEXT[:] = self.names
        return self

    def __exit__(self, *exc):
        _CONTEXT[:] = self.saved


def _plt():
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def answer_bars(rows: list[dict], path: Path, title: str) -> Path | str:
    """Grouped bars: P(answer | valid) per model, one group per answer (first setting of each model)."""
    from .numbers import prob
    plt = _plt()
    if plt is None:
        return HINT
    first = {}
    for r in rows:
        first.setdefault(r["model"], r)
    labels = list(next(iter(first.values()))["probs"])
    fig, ax = plt.subplots(figsize=(max(6, len(labels) * 0.7), 3.6))
    width = 0.8 / max(len(first), 1)
    colours = model_colours(list(first))
    for j, (model, r) in enumerate(first.items()):
        ax.bar([i + j * width for i in range(len(labels))], [r["probs"][a] for a in labels], width,
               label=f"{model} (valid {prob(r['valid_mass'], 2)})", color=colours[model])
    ax.axhline(1 / len(labels), color="gray", lw=0.8, ls="--", label="uniform")
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(labels))], labels)
    ax.set_ylabel("P(answer | valid)")
    ax.set_title(title)
    ax.legend(fontsize=7)
    return _save(fig, plt, path)


def temperature_curve(rows: list[dict], path: Path, title: str) -> Path | str:
    """Answer entropy and expected chi-square against temperature, one line per model (top-p 1)."""
    plt = _plt()
    if plt is None:
        return HINT
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.4))
    colours = model_colours([r["model"] for r in rows])
    for model in dict.fromkeys(r["model"] for r in rows):
        pts = sorted((r["temperature"], r) for r in rows if r["model"] == model and r["top_p"] == 1.0)
        if not pts:
            continue
        a1.plot([t for t, _ in pts], [r["entropy_bits"] for _, r in pts], marker="o", label=model,
                color=colours[model])
        a2.plot([t for t, _ in pts], [r["chi2_expected"] for _, r in pts], marker="o", label=model,
                color=colours[model])
    a1.set_xlabel("temperature"), a1.set_ylabel("answer entropy (bits)")
    a2.set_xlabel("temperature"), a2.set_ylabel("expected chi-square"), a2.set_yscale("log")
    a1.legend(fontsize=7)
    fig.suptitle(title)
    return _save(fig, plt, path)


def position_heatmaps(rows: list[dict], path: Path, title: str) -> Path | str:
    """Value x position counts per model (Figure 6)."""
    plt = _plt()
    if plt is None:
        return HINT
    fig, axes = plt.subplots(1, len(rows), figsize=(3.6 * len(rows), 3.6), squeeze=False)
    for ax, r in zip(axes[0], rows):
        heatmap(fig, ax, r["position_counts"], f"{r['model']} T={r['temperature']:g}")
    fig.suptitle(title)
    return _save(fig, plt, path)


def heatmap(fig, ax, counts, title: str) -> None:
    """Value x position counts with a colourbar (Figure 6)."""
    import numpy as np
    counts = np.asarray(counts)
    im = ax.imshow(counts, aspect="auto", cmap="viridis", origin="lower", vmin=0, vmax=max(int(counts.max()), 1))
    fig.colorbar(im, ax=ax, label="sequences", fraction=0.08, pad=0.03)
    if not counts.any():
        title += "\n(no parsed sequences)"
    ax.set_title(title, fontsize=8), ax.set_xlabel("position (1st .. 10th number)"), ax.set_ylabel("value")
    ax.set_xticks(range(10), [str(i) for i in range(1, 11)], fontsize=7)


def _save(fig, plt, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def entropy_curves(rows: list[dict], path: Path, title: str) -> Path | str:
    """Full-vocabulary and top-5 entropy (bits) against token position, one line per model with its
    95% band over samples (`probes.tokens.BAND`: a percentile bootstrap, inside the measure's range;
    Mohammadi 2024's token-entropy figure), saved as a PNG."""
    plt = _plt()
    if plt is None:
        return HINT
    return _save(entropy_figure(rows, title), plt, path)


def entropy_figure(rows: list[dict], title: str, labels: list[str] | None = None):
    """The entropy-by-position figure (a matplotlib figure); `labels` name the lines (default: the
    model and its token-weighted mean top-5 entropy)."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharex=True)
    seen: dict = {}
    colours = model_colours([r["model"] for r in rows])
    styles = []                         # a model's second run dashed, third dotted...
    for r in rows:
        seen[r["model"]] = seen.get(r["model"], -1) + 1
        styles.append(("-", "--", ":", "-.")[seen[r["model"]] % 4])
    for ax, key, name in ((axes[0], "top5_by_position", "top-5 entropy (bits)"),
                          (axes[1], "entropy_by_position", "full-vocabulary entropy (bits)")):
        for i, r in enumerate(rows):
            c = r[key]
            x = list(range(1, len(c["mean"]) + 1))
            label = labels[i] if labels else f"{r['model']} (mean {r['mean_top5_entropy_bits']:.3f} top-5)"
            colour = colours[r["model"]]
            ax.plot(x, c["mean"], lw=1.4, color=colour, ls=styles[i], label=label if key == "top5_by_position" else None)
            lo = [m if v != v else v for m, v in zip(c["mean"], c["lo"])]     # no band where n < 2
            hi = [m if v != v else v for m, v in zip(c["mean"], c["hi"])]
            ax.fill_between(x, lo, hi, color=colour, alpha=0.15, lw=0)
        ax.set_xlabel("generated token")
        ax.set_ylabel(name)
    axes[0].axhline(2.3219, color="gray", lw=0.8, ls="--")
    axes[0].text(0.01, 2.36, "log2(5) = 2.32: uniform over the top 5", fontsize=7, color="gray", va="bottom",
                 transform=axes[0].get_yaxis_transform())
    axes[0].set_ylim(0, 2.6)
    axes[1].set_ylim(bottom=0)
    for ax in axes:                   # what the shading is, on the figure itself (a PNG travels without a caption)
        ax.set_title("shaded: 95% percentile bootstrap of the mean over texts", fontsize=7, color="#555")
    fig.legend(fontsize=7, loc="upper center", ncol=min(len(rows), 2), bbox_to_anchor=(0.5, 0.0))
    fig.suptitle(title, fontsize=10)
    return fig


MARKERS = "osD^v<>ph*"


def scatter_map(groups: list, path: Path, title: str) -> Path | str:
    """A 2-D map of texts: groups = [(model, xy [n, 2], cluster labels [n])]; colour = the model's
    (`model_colour`), marker = cluster within the group."""
    plt = _plt()
    if plt is None:
        return HINT
    fig, ax = plt.subplots(figsize=(7, 5.2))
    colours = model_colours([g[0] for g in groups])
    for label, xy, clusters in groups:
        c = colours[label]
        for k in sorted(set(clusters)):
            pts = [p for p, lab in zip(xy, clusters) if lab == k]
            ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=22, color=c, alpha=0.75,
                       marker=MARKERS[k % len(MARKERS)], label=f"{label} (cluster {k + 1}, {len(pts)})")
    ax.set_xticks([]), ax.set_yticks([])
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.01), ncol=2, markerscale=0.8)
    return _save(fig, plt, path)


def rank_figure(res: dict, path: Path):
    """Contests won per model per axis (bars; grey: contests with no winner, unclear or too small) and
    model strengths per axis over all topics with 95% CIs, each axis marked with its verdict (a win
    needs the 95% bootstrap interval of the leader's lead over every other model above 0:
    `probes.bradley_terry`)."""
    plt = _plt()
    if plt is None:
        return HINT
    import numpy as np
    from matplotlib.ticker import MaxNLocator
    axes = sorted(res["wins"])
    models = sorted({m for a in axes for m in res["models"][a]})
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2))
    bar, dot = 0.8 / (len(models) + 1), 0.8 / max(len(models), 1)    # the bars have a grey one more
    colours = model_colours(models)
    for j, m in enumerate(models):
        a1.bar(np.arange(len(axes)) + j * bar, [res["wins"][a].get(m, 0) for a in axes], bar, label=m,
               color=colours[m])
        s = [res["models"][a].get(m, {"strength": np.nan, "lo": np.nan, "hi": np.nan}) for a in axes]
        a2.errorbar(np.arange(len(axes)) + j * dot, [v["strength"] for v in s],
                    yerr=[[v["strength"] - v["lo"] for v in s], [v["hi"] - v["strength"] for v in s]],
                    fmt="o", capsize=3, label=m, color=colours[m])
    a1.bar(np.arange(len(axes)) + len(models) * bar, [res["no_winner"][a] for a in axes], bar,
           label="no winner (unclear or too few)", color="#d0d0d0", edgecolor="gray", hatch="//")
    a1.set_xticks(np.arange(len(axes)) + 0.4 - bar / 2, axes)
    centres = np.arange(len(axes)) + 0.4 - dot / 2
    a2.set_xticks(centres, axes)
    a2.set_xlim(centres[0] - 0.6, centres[-1] + 0.6)
    for x, a in zip(centres, axes):
        v = res["overall"][a]
        a2.text(x, 1.01, f"strongest: {v['winner']}" if v["winner"] else "no clear strongest", ha="center",
                va="bottom", fontsize=7, color="dimgray", transform=a2.get_xaxis_transform())
    most = max([res["no_winner"][a] for a in axes] + [n for a in axes for n in res["wins"][a].values()] + [1])
    a1.set_ylim(0, most * 1.45)                                       # room for the legend
    a1.yaxis.set_major_locator(MaxNLocator(integer=True))
    a1.set_ylabel("contests won"), a1.set_title("contests won (a clear winner only)", fontsize=9)
    a2.set_ylabel("Bradley-Terry log-strength")
    a2.set_title("model strength over all topics, 95% bootstrap CI", fontsize=9, pad=16)
    a2.axhline(0, color="gray", lw=0.6)
    a1.legend(fontsize=7, loc="upper center", ncol=min(len(models) + 1, 4))
    fig.text(0.5, -0.02, "a winner: the 95% bootstrap interval of its log-strength minus every other model's "
             "(the CIs' resamples) lies above 0", ha="center", fontsize=8, color="dimgray")
    return _save(fig, plt, path)
