"""Report sections for the creativity experiments (Mohammadi 2024): token entropy, attractors and
semantic diversity; and the trade-off against a benchmark score (West & Potts 2025, Figure 1).
Personas and poetry have their own files."""
from __future__ import annotations

import math
import statistics
from pathlib import Path

from .page import Section
from .sections_random import _f, _plt


def entropy(res) -> Section | None:
    runs = [r for r in res.of("entropy") if r.summary]
    if not runs:
        return None
    s = Section("entropy", "Token entropy of open-ended text")
    rows = [[r.model, r.summary["format"], r.summary["samples"], r.summary["tokens"],
             _f(r.summary["mean_top5_entropy_bits"], ".3f"),
             "[" + ", ".join(_f(x, ".3f") for x in (r.summary["top5_entropy_ci95"] or [None, None])) + "]",
             _f(r.summary["mean_entropy_bits"], ".3f"), _f(100 * r.summary["low_entropy_share"], ".1f")] for r in runs]
    s.table(["model", "format", "samples", "tokens", "top-5 H (bits)", "95% CI", "full H (bits)", "% tokens < 0.1 bit"],
            rows, "top-5 entropy renormalised over the five most likely tokens: 0 .. 2.32 bits (Mohammadi 2024)")
    from .plots import entropy_curves
    out = entropy_curves([r.summary for r in runs], res.root / ".report" / "entropy.png", "token entropy by position")
    if isinstance(out, Path):
        s.figure(out, "top-5 and full entropy by generated position, 95% band over samples", "entropy")
    page = res.root / "entropy" / "tokens.html"
    if page.exists():
        s.text(f"Every token coloured by its probability, with its top 5: {page}")
    s.provenance(runs)
    return s


def attractor(res) -> Section | None:
    runs = [r for r in res.of("attractor") if r.summary]
    if not runs:
        return None
    s = Section("attractor", "Attractor states")
    s.text("Each model's own continuation perturbed after its first sentence. Attraction = mean over the original "
           "remainder's tokens of log2 p(token | perturbed prefix) - log2 p(token | original prefix), in bits per "
           "token (0: the edit is ignored), over all its tokens, its first 8 and the tokens after the first 8. "
           "Recovered = regenerations whose 8-token mean probability returns to the controls' level, from the "
           "median token shown (counted from 1).")
    rows = []
    for r in runs:
        for e in r.summary["edits"]:
            if not e["matched"]:
                rows.append([r.model, e["edit"], "no match", "", "", "", "", ""])
                continue
            bits = [_f(_attraction_bits(e, part), "+.3f") for part in ("", "_first8", "_after8")]
            rows.append([r.model, e["edit"], *bits, *_recovery(e),
                         f"{e['mean_rouge_l_perturbed']:.3f} / {e['mean_rouge_l_control']:.3f}"])
    s.table(["model", "edit", "attraction (bits/token)", "first 8 tokens", "after 8", "recovered", "median token",
             "ROUGE-L perturbed / control"], rows)
    s.provenance(runs)
    return s


def _attraction_bits(e: dict, part: str):
    """Attraction in bits per token; a summary written before attraction was in bits holds nats
    (`attraction_exact`): converted exactly (/ ln 2)."""
    if f"attraction_bits{part}" in e:
        return e[f"attraction_bits{part}"]
    x = e.get(f"attraction_exact{part}")
    return None if x is None else x / math.log(2)


def _recovery(e: dict) -> list[str]:
    """['2 of 3', median first token counted from 1 | 'not recovered']; an older summary holds the
    0-based positions (`recovery`)."""
    if "recovered" not in e:
        got = [k + 1 for k in e.get("recovery", []) if k is not None]
        e = {"recovered": len(got), "regenerations": len(e.get("recovery", [])),
             "median_recovery_token": statistics.median(got) if got else None}
    return [f"{e['recovered']} of {e['regenerations']}",
            _f(e["median_recovery_token"], "g") if e["recovered"] else "not recovered"]

def diversity(res) -> Section | None:
    runs = [r for r in res.of("diversity") if r.summary]
    if not runs:
        return None
    s = Section("diversity", "Semantic diversity")
    rows = [[r.model, r.summary["format"], r.summary["texts"], f"{r.summary['embedding_cosine']['mean']:.3f}",
             "[" + ", ".join(f"{x:.3f}" for x in r.summary["embedding_cosine"]["ci95"]) + "]",
             _f(r.summary["tfidf_cosine"], ".3f"), *[_f(r.summary["distinct"][n], ".3f") for n in ("1", "2", "3")],
             _f(r.summary["compression_ratio"], ".2f"), r.summary["clusters"]["k"],
             " ".join(map(str, r.summary["clusters"]["sizes"]))] for r in runs]
    s.table(["model", "format", "texts", "embedding cos", "95% CI", "TF-IDF cos", "distinct-1", "distinct-2",
             "distinct-3", "gzip ratio", "k", "cluster sizes"], rows,
            "similarity: lower = more diverse; gzip ratio: higher = more repetitive")
    fig = res.root / "diversity" / "map.png"
    if fig.exists():
        s.figure(fig, "texts of both models on a 2-D map of their sentence embeddings", "diversity-map")
    s.provenance(runs)
    return s


def tradeoff(res, scores: dict) -> Section | None:
    """Figure 1: each unpredictability measure against a benchmark score the user supplies."""
    if not scores:
        return None
    from ..probes.ranking import spearman
    from .study import study_name
    measures = {}
    for r in res.runs:
        m = r.summary or {}
        if r.task == "integers":
            for u in r.units:
                if u.get("paraphrase") == 0 and u.get("temperature") == 1.0 and u.get("top_p") == 1.0:
                    measures.setdefault("-chi2 integers", {})[r.model] = -u["chi2_expected"]
        elif r.task in ("determinism-rps", "determinism-hide-seek") and m:
            measures.setdefault(f"net {m['game']}", {})[r.model] = m["net_score"]
        elif r.task == "sequences" and m.get("repeat_mse_vs_uniform") is not None:
            measures.setdefault("-repeat MSE sequences", {})[r.model] = -m["repeat_mse_vs_uniform"]
        elif r.task == "diversity" and m:
            measures.setdefault("1 - embedding cos", {})[r.model] = 1 - m["embedding_cosine"]["mean"]
    s = Section("tradeoff", "Benchmark score vs unpredictability (Figure 1)")
    plt = _plt()
    names = [k for k, v in measures.items() if len(set(v) & set(scores)) >= 2]
    if not names:
        s.text("no measure has two or more of the scored models")
        return s
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.4), squeeze=False)
    rows = []
    for ax, name in zip(axes[0], names):
        common = sorted(set(measures[name]) & set(scores))
        for mdl in common:
            entry = study_name(mdl)
            kind = scores[mdl].get("kind") or ("base" if entry is None or "instruct" not in entry and "tulu" not in entry
                                               else "aligned")
            ax.scatter(scores[mdl]["score"], measures[name][mdl], marker="o" if kind == "base" else "^",
                       color="tab:blue" if kind == "base" else "tab:red")
            ax.annotate(mdl, (scores[mdl]["score"], measures[name][mdl]), fontsize=6)
        rho = spearman({m: scores[m]["score"] for m in common}, {m: measures[name][m] for m in common})
        rows.append([name, len(common), _f(rho and rho["rho"], "+.2f")])
        ax.set_xlabel("benchmark score"), ax.set_ylabel(name)
    s.figure(fig, "circles: base models, triangles: aligned", "tradeoff")
    s.table(["measure (higher = less predictable)", "models", "Spearman rho with score"], rows)
    return s
