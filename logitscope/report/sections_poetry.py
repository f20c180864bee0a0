"""Report section for poetry contests (West & Potts 2025, Section 4): poems per model and topic,
rankings from judgements (people and model judges), agreement per axis beside the study's, control
accuracy and the exact judges' position bias."""
from __future__ import annotations

from pathlib import Path

from .page import Section
from .sections_random import _f
from .study import POETRY_KAPPA_NOTE


def poetry(res) -> Section | None:
    runs = [r for r in res.of("poetry") if r.summary]
    if not runs and not res.judgements:
        return None
    s = Section("poetry", "Poetry contests")
    if runs:
        rows = []
        for r in runs:
            reward = r.summary.get("rewards", {}).get("mean", {})
            run = r.summary.get("run") or r.path.stem.rsplit("-", 1)[-1]
            for t, p in r.summary["topics"].items():
                poems = p["poems"] if "drawn" in p else f"{p.get('available', p['poems'])}*"
                rows.append([r.model, run, t, poems, p["attempts"], f"{100 * parsed(p):.0f}",
                             _f(reward.get(t), ".2f")])
        s.table(["model", "run", "topic", "poems", "draws", "parsed %", "mean reward"], rows,
                "4-line poems parsed per model and topic (run: the result file's config hash, part of each poem's id; "
                "draws: the run's own, in order up to its last poem; parsed % = poems / draws"
                + ("; * a summary written before runs counted their own draws: the file's poems over its draws"
                   if any(isinstance(row[3], str) for row in rows) else "") + ")")
    if res.judgements:
        from ..probes.ranking import rank, read_judgements
        try:
            judgements, problems = read_judgements(res.judgements)
            rk = rank(judgements, problems=problems)
        except Exception as exc:   # noqa: BLE001 - a report never fails on one kind of result
            s.text(f"rankings not computed: {exc}")
        else:
            _rankings(s, rk, res.root)
    s.provenance(runs)
    return s


RANK_LEGEND = ("contests won: topics where the model is strongest (a tie, or a contest too small to rank, counts "
               "for no one); log-strength: Bradley-Terry, centred at 0; 95% CI: bootstrap over judgements; n: the "
               "comparisons the model took part in (fewer than {least}: too few to rank); a model whose poems "
               "come from several runs is one entry per run, model@run")


def strength_rows(res) -> list[list]:
    """[axis, entry, contests won, log-strength, 95% CI, n] per axis and entry (n flagged when too few)."""
    rows = []
    for axis in sorted(res["models"]):
        for m, v in res["models"][axis].items():
            n = f"{v['n']}" + (" (too few)" if v["n"] < res["min_comparisons"] else "")
            rows.append([axis, m, res["wins"][axis].get(m, 0), _signed(v["strength"]),
                         f"[{_signed(v['lo'])}, {_signed(v['hi'])}]", n])
    return rows


def _signed(x: float) -> str:
    """+0.12; a value that rounds to zero is +0.00, never -0.00."""
    return f"{round(x, 2) or 0.0:+.2f}"


def contest_verdict(c: dict, least: int) -> str:
    """'winner A', 'tie (A, B)', and/or why a contest is too small to rank."""
    said = f"tie ({', '.join(c['tie'])})" if c["tie"] else f"winner {c['leader']}" if not c["too_small"] else ""
    if c["too_small"]:
        lead = f"leader {c['leader']}, " if c["leader"] else ""
        said += ("; " if said else "") + (f"too few comparisons to rank (fewest for one model: {c['fewest']} "
                                          f"< {least}; {lead}no win counted)")
    return said


def parsed(p: dict) -> float:
    """A run's parse rate on one topic: its poems over its own draws. A summary written before runs
    counted their own draws (no `drawn`) counted every draw of its file: its rate is the file's poems
    (`available`) over them."""
    if "drawn" in p:
        return p["poems"] / max(p["attempts"], 1)
    return p.get("available", p["poems"]) / max(p["attempts"], 1)


def _rankings(s: Section, rk: dict, root: Path) -> None:
    from .plots import rank_figure
    s.table(["axis", "model", "contests won", "log-strength", "95% CI", "n"], strength_rows(rk),
            "contests won and Bradley-Terry strengths per axis (Figure 5, left); "
            + RANK_LEGEND.format(least=rk["min_comparisons"]))
    s.table(["topic", "axis", "verdict", "comparisons", "judgements"],
            [[c["topic"], c["axis"], contest_verdict(c, rk["min_comparisons"]), c["comparisons"], c["judgements"]]
             for c in rk["contests"]], "each contest's verdict")
    rows = []
    for axis, ag in rk["agreement"].items():
        for k in ag["kappa"]:
            rows.append([axis, f"Cohen's kappa, {k['a']} vs {k['b']}", _f(k["kappa"], "+.2f") if k["kappa"] is not None
                         else k["note"], k["items"], f"{k['agreement']:.2f}"])
        kr = ag["krippendorff"]
        if kr["annotators"] >= 3:
            rows.append([axis, f"Krippendorff's alpha, {kr['annotators']} annotators",
                         _f(kr["alpha"], "+.2f") if kr["alpha"] is not None else kr["note"], kr["pairs"], "-"])
    if rows:
        s.table(["axis", "measure", "ours", "pairs", "raw agreement"], rows,
                f"agreement per axis on the same two poems; {POETRY_KAPPA_NOTE}")
    if rk["control"]:
        s.table(["annotator", "control pairs", "correct", "accuracy"],
                [[who, c["controls"], c["correct"], f"{100 * c['accuracy']:.0f}%" + (", below 100%" * c["flag"])]
                 for who, c in rk["control"].items()],
                "control pairs (a poem against a bag of its contest's words: the poem is the right answer)")
    if rk["judges"]:
        s.table(["judge", "axis", "pairs", "P(first)", "shift", "mean invalid mass"],
                [[j["annotator"], j["axis"], j["pairs"], _f(j["position_bias"], ".3f"), _f(j["mean_shift"], "+.3f"),
                  _f(j["mean_invalid_mass"], ".3f")] for j in rk["judges"]],
                "exact judges' position bias: P(first) = mean probability of choosing the poem shown first "
                "(0.5 = none); shift = mean P(left | shown first) - P(left | shown second)")
    fig = rank_figure(rk, root / "poetry-judgements" / "ranking.png")
    if isinstance(fig, Path):
        s.figure(fig, "wins and model strengths per axis", "poetry-ranking")
