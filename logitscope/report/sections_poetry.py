"""Report section for poetry contests (West & Potts 2025, Section 4): poems per model and topic,
rankings from judgements (people and model judges), agreement."""
from __future__ import annotations

from pathlib import Path

from .page import Section
from .sections_random import _f


def poetry(res) -> Section | None:
    runs = [r for r in res.of("poetry") if r.summary]
    if not runs and not res.judgements:
        return None
    s = Section("poetry", "Poetry contests")
    if runs:
        rows = []
        for r in runs:
            for t, p in r.summary["topics"].items():
                rows.append([r.model, t, p["poems"], p["attempts"], _f(r.summary.get("rewards", {}).get("mean", {}).get(t),
                                                                       ".2f")])
        s.table(["model", "topic", "poems", "draws", "mean reward"], rows, "4-line poems parsed per model and topic")
    if res.judgements:
        from ..probes.ranking import rank, read_judgements
        from .plots import rank_figure
        try:
            judgements, problems = read_judgements(res.judgements)
            rk = rank(judgements, problems=problems)
        except Exception as exc:   # noqa: BLE001 - a report never fails on one kind of result
            s.text(f"rankings not computed: {exc}")
        else:
            axes = sorted(rk["wins"])
            models = sorted({m for a in axes for m in rk["models"][a]})
            s.table(["model", *axes], [[m, *[f"{rk['wins'][a].get(m, 0)} wins, {rk['models'][a][m]['strength']:+.2f} "
                                              f"[{rk['models'][a][m]['lo']:+.2f}, {rk['models'][a][m]['hi']:+.2f}]"
                                              if m in rk["models"][a] else "-" for a in axes]] for m in models],
                    "contests won per model and axis, Bradley-Terry log-strength [95% CI] (Figure 5, left)")
            for k in rk["kappa"]:
                s.text(f"Cohen's kappa {k['a']} vs {k['b']}: {k['kappa']:.2f} on {k['items']} pairs (the study's "
                       "annotators: 0.33 / 0.27 / 0.67)")
            fig = rank_figure(rk, res.root / ".report" / "ranking.png")
            if isinstance(fig, Path):
                s.figure(fig, "wins and model strengths per axis", "poetry-ranking")
    s.provenance(runs)
    return s
