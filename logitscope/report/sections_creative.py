"""Report sections for the creativity experiments (Mohammadi 2024): token entropy, attractors and
semantic diversity; and the trade-off against a benchmark score (West & Potts 2025, Figure 1).
Personas and poetry have their own files."""
from __future__ import annotations

import math
import statistics
from pathlib import Path

from . import outputs, references
from .numbers import corr
from .page import Section
from ..probes.tokens import BAND, entropy_summary
from .plots import model_colour
from .sections_random import _f, _plt


def entropy(res) -> Section | None:
    rows_ = res.sized("entropy", "samples")
    if not rows_:
        return None
    rows_ = [(r, _recomputed(r, m)) for r, m in rows_]
    s = Section("entropy", "Token entropy of open-ended text")
    s.text("Entropy of each generated token's next-token distribution in bits: full vocabulary, and top 5 "
           "renormalised over the five most likely tokens (0 .. 2.32 bits, Mohammadi 2024). Means are "
           "token-weighted over every generated token of the run; each 95% CI is a percentile bootstrap over "
           "texts of that same mean, computed here from the run's texts. One row per run (n = texts).")
    rows = []
    for r, m in rows_:
        rows.append([r.model, m["format"], m["samples"], r.config.get("max_new_tokens", "-"),
                     f"{m['temperature']:g}", f"{m['top_p']:g}", m["tokens"], _f(m["mean_top5_entropy_bits"], ".3f"),
                     _ci(m.get("top5_entropy_ci95")), _f(m["mean_entropy_bits"], ".3f"), _ci(m.get("entropy_ci95")),
                     _f(100 * m["low_entropy_share"], ".1f") if m["low_entropy_share"] is not None else "-"])
    s.table(["model", "format", "n", "max tokens", "T", "top-p", "tokens", "top-5 H (bits/token)", "95% CI",
             "full H (bits/token)", "95% CI", "% tokens < 0.1 bit"], rows,
            "token-weighted means per generated token; CI: percentile bootstrap over texts (inside the measure's "
            "range; '-' where the file lacks some of the run's texts and its summary recorded another interval)")
    references.mohammadi(s, "entropy")
    from .plots import entropy_figure
    labels = [f"{r.model} (n={m['samples']}, {r.config.get('max_new_tokens', '?')} tokens, T={m['temperature']:g}; "
              f"mean {m['mean_top5_entropy_bits']:.3f})" for r, m in rows_]
    s.figure(entropy_figure([m for _, m in rows_], "token entropy by position", labels),
             "top-5 and full entropy by generated position; shaded: " + BAND.replace("seeded", "seed 0 + position")
             + " (top 5: [0, 2.32] bits; full: [0, log2 vocabulary])", "entropy")
    pages = [(f"{r.model} (n={m['samples']})", outputs.tokens_page(r.path, m["samples"])) for r, m in rows_]
    pages = [(t, p) for t, p in pages if p.exists()]
    if pages:
        s.links("Every token coloured by its probability, with its top 5 on hover:", pages)
    s.provenance(res.of("entropy"))
    return s


def _recomputed(r, m: dict) -> dict:
    """A run's entropy summary with its intervals computed now from the file's texts 0..n-1 (the
    texts the summary counted), by the current estimators (bands inside the measure's range). Where
    the file lacks some texts, the summary as recorded if its intervals are the current ones, else
    without the intervals an earlier version recorded (t-intervals, which could leave the range)."""
    texts = r.first_units("index", m["samples"], "top5_entropy_bits")
    if texts is not None:
        new = entropy_summary(texts)
        return {**m, **{k: new[k] for k in ("entropy_ci95", "top5_entropy_ci95", "entropy_by_position",
                                            "top5_by_position", "band")}}
    m = dict(m)
    if not m.get("band"):
        for key in ("entropy_by_position", "top5_by_position"):
            c = m[key]
            m[key] = {**c, "lo": [float("nan")] * len(c["mean"]), "hi": [float("nan")] * len(c["mean"])}
    if not m.get("estimator"):
        m["entropy_ci95"] = m["top5_entropy_ci95"] = None
    return m


def _ci(ci) -> str:
    return "-" if not ci else "[" + ", ".join(_f(x, ".3f") for x in ci) + "]"


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
    rows, unmatched = [], []
    for r in runs:
        for e in r.summary["edits"]:
            if not e["matched"]:
                rows.append([r.model, e["edit"], *UNMATCHED_CELLS])
                unmatched.append(unmatched_note(r.model, e["edit"]))
                continue
            bits = [_f(_attraction_bits(e, part), "+.3f") for part in ("", "_first8", "_after8")]
            rows.append([r.model, e["edit"], *bits, *_recovery(e),
                         f"{e['mean_rouge_l_perturbed']:.3f} / {e['mean_rouge_l_control']:.3f}"])
    s.table(["model", "edit", "attraction (bits/token)", "first 8 tokens", "after 8", "recovered", "median token",
             "ROUGE-L perturbed / control"], rows)
    for line in unmatched:
        s.text(line)
    references.mohammadi(s, "attractor")
    pages = sorted((res.root / "attractor").glob("*.html"))
    if pages:
        s.links("Original, perturbed and control continuations, every token coloured:", [(p.name, p) for p in pages])
    s.provenance(runs)
    return s


UNMATCHED_CELLS = ("not measured: edit not found", "-", "-", "-", "-", "-")


def unmatched_note(model: str, edit: str) -> str:
    """What an edit that found nothing to change means (the table row says only 'not measured')."""
    left = edit.partition("=>")[0].strip()
    return (f"{model}, edit {edit!r}: {left!r} does not occur as a word after the first sentence of this model's "
            "continuation, so nothing was perturbed and nothing measured; choose an --edit from words the "
            "continuation uses (shown in the result file and on the attractor page).")


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
    rows_ = res.sized("diversity", "texts")
    if not rows_:
        return None
    s = Section("diversity", "Semantic diversity")
    rows = [[r.model, m["format"], m["texts"], r.config.get("max_new_tokens", "-"), f"{m['temperature']:g}",
             f"{m['top_p']:g}", f"{m['embedding_cosine']['mean']:.3f}",
             "[" + ", ".join(f"{x:.3f}" for x in m["embedding_cosine"]["ci95"]) + "]",
             _f(m["tfidf_cosine"], ".3f"), *[_f(m["distinct"][n], ".3f") for n in ("1", "2", "3")],
             _f(m["compression_ratio"], ".2f"), m["clusters"]["k"], " ".join(map(str, m["clusters"]["sizes"]))]
            for r, m in rows_]
    s.table(["model", "format", "n", "max tokens", "T", "top-p", "embedding cos", "95% CI", "TF-IDF cos",
             "distinct-1", "distinct-2", "distinct-3", "gzip ratio", "k", "cluster sizes"], rows,
            "one row per run (n = texts); similarity: lower = more diverse; gzip ratio: higher = more repetitive; "
            "CI: bootstrap over texts")
    references.mohammadi(s, "diversity")
    for png in sorted((res.root / "diversity").glob("*.map.png")):
        info = _manifest(png)
        if info is None:
            continue
        runs = ", ".join(f"{m} (n={n})" for m, n in zip(info["models"], info["texts"]))
        s.figure(png, f"sentence embeddings of {runs} on a 2-D map ({info.get('method', '?')}): colour = model, "
                      "marker = its k-means cluster", f"diversity-{png.stem}")
    s.provenance(res.of("diversity"))
    return s


def _manifest(png: Path) -> dict | None:
    import json
    try:
        return json.loads(png.with_suffix(".json").read_text())
    except (OSError, ValueError):
        return None


ALIGNED_FORMATS = {"chat", "tulu", "llama3-instruct"}


def model_kind(model: str, formats: set, stated: str | None) -> tuple[str, str]:
    """(base | aligned | unknown, how it was decided): the registry entry when there is one (its
    prompt format: raw = base), else the kind the scores file states, else the prompt format the
    model's runs used (raw = base, a chat / instruct format = aligned, mixed = unknown)."""
    from ..kernels.models.registry import lookup
    entry = lookup(model) if model else None
    if entry is not None and entry.kind == "oracle":
        return "unknown", "the uniform oracle is neither"
    if entry is not None and entry.kind == "causal-lm":
        return ("base" if entry.format == "raw" else "aligned"), f"registry ({entry.name}: format {entry.format})"
    if stated in ("base", "aligned"):
        return stated, "scores file"
    kinds = {"base" if f == "raw" else "aligned" if f in ALIGNED_FORMATS else "unknown" for f in formats}
    if len(kinds) == 1 and kinds != {"unknown"}:
        return kinds.pop(), f"prompt format of its runs ({', '.join(sorted(formats))})"
    return "unknown", "no registry entry, no kind given" + (", mixed formats" if len(formats) > 1 else "")


def _measures(res) -> dict:
    """{measure: {model: value}}, higher = less predictable; per model its largest run (by n), on a
    tie the run in the model's own format (its registry format), else the first found."""
    from ..kernels.models.registry import lookup
    best: dict = {}

    def offer(name, model, n, fmt, v):
        entry = lookup(model)
        own = entry is not None and entry.format == fmt
        key = (n, own)
        if v is not None and ((name, model) not in best or key > best[(name, model)][0]):
            best[(name, model)] = (key, v)
    for r in res.runs:
        fmt = r.config.get("format")
        if r.task == "integers":
            for u in r.units:
                if u.get("paraphrase") == 0 and u.get("temperature") == 1.0 and u.get("top_p") == 1.0 \
                        and u.get("chi2_expected") is not None:
                    offer("-chi2 integers", r.model, u.get("samples", 0), fmt, -u["chi2_expected"])
        for task, key, name, value in (
                ("determinism-rps", "games", "net rps", lambda m: m["net_score"]),
                ("determinism-hide-seek", "games", "net hide-seek", lambda m: m["net_score"]),
                ("sequences", "sequences", "-repeat MSE sequences", lambda m: -m["repeat_mse_vs_uniform"]
                 if m.get("repeat_mse_vs_uniform") is not None else None),
                ("diversity", "texts", "1 - embedding cos", lambda m: 1 - m["embedding_cosine"]["mean"])):
            if r.task == task and r.summaries:
                m = r.by_n(key)[-1]
                v = value(m)
                if v is not None:
                    offer(name, r.model, m.get(key, 0), fmt, v)
    out: dict = {}
    for (name, model), (_, v) in best.items():
        out.setdefault(name, {})[model] = v
    return out


def tradeoff(res, scores: dict) -> Section | None:
    """Figure 1: each unpredictability measure against a benchmark score the user supplies."""
    if not scores:
        return None
    from ..probes.ranking import spearman
    measures = _measures(res)
    formats: dict = {}
    for r in res.runs:
        if r.config.get("format"):
            formats.setdefault(r.model, set()).add(r.config["format"])
    kinds = {m: model_kind(m, formats.get(m, set()), v.get("kind")) for m, v in scores.items()}
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
            kind = kinds[mdl][0]
            ax.scatter(scores[mdl]["score"], measures[name][mdl], marker={"base": "o", "aligned": "^"}.get(kind, "s"),
                       color=model_colour(mdl), edgecolor="black" if kind == "unknown" else None)
            ax.annotate(mdl, (scores[mdl]["score"], measures[name][mdl]), fontsize=6)
        rho = spearman({m: scores[m]["score"] for m in common}, {m: measures[name][m] for m in common})
        rows.append([name, len(common), "- (needs 3 models)" if rho is None else corr(rho["rho"])])
        ax.set_xlabel("benchmark score"), ax.set_ylabel(name)
    s.figure(fig, "circles: base models, triangles: aligned, squares: unknown; colour = model", "tradeoff")
    s.table(["measure (higher = less predictable)", "models", "Spearman rho with score"], rows)
    s.table(["model", "score", "kind", "decided by"], [[m, f"{v['score']:g}", *kinds[m]] for m, v in scores.items()],
            "base or aligned")
    return s
