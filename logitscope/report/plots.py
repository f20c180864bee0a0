"""PNG figures for the randomness experiments. matplotlib is optional: without it the figures are
skipped with one hint line (the tables and JSON lines are still written)."""
from __future__ import annotations

from pathlib import Path

HINT = 'figures skipped: matplotlib is not installed (pip install -e ".[plots]")'


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
    plt = _plt()
    if plt is None:
        return HINT
    first = {}
    for r in rows:
        first.setdefault(r["model"], r)
    labels = list(next(iter(first.values()))["probs"])
    fig, ax = plt.subplots(figsize=(max(6, len(labels) * 0.7), 3.6))
    width = 0.8 / max(len(first), 1)
    for j, (model, r) in enumerate(first.items()):
        ax.bar([i + j * width for i in range(len(labels))], [r["probs"][a] for a in labels], width,
               label=f"{model} (valid {r['valid_mass']:.2f})")
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
    for model in dict.fromkeys(r["model"] for r in rows):
        pts = sorted((r["temperature"], r) for r in rows if r["model"] == model and r["top_p"] == 1.0)
        if not pts:
            continue
        a1.plot([t for t, _ in pts], [r["entropy_bits"] for _, r in pts], marker="o", label=model)
        a2.plot([t for t, _ in pts], [r["chi2_expected"] for _, r in pts], marker="o", label=model)
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
        ax.imshow(r["position_counts"], aspect="auto", cmap="viridis", origin="lower")
        ax.set_title(f"{r['model']} T={r['temperature']:g}", fontsize=8)
        ax.set_xlabel("position"), ax.set_ylabel("value")
    fig.suptitle(title)
    return _save(fig, plt, path)


def _save(fig, plt, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
