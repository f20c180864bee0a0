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
    dirs = sorted({f.parent for f in res.judgements if f.parent.name == "poetry-judgements"})
    if not runs and not dirs:
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
    if dirs:                                # read in the layout the commands write, as `probe poetry rank` does
        from ..probes.poetry_files import read_judgements
        from ..probes.ranking import rank
        try:
            judgements, problems = read_judgements(dirs)
            rk = rank(judgements, problems=problems)
        except Exception as exc:   # noqa: BLE001 - a report never fails on one kind of result
            s.text(f"rankings not computed: {exc}")
        else:
            _rankings(s, rk, dirs[0] / "ranking.png" if len(dirs) == 1 else res.root / "poetry-ranking.png")
    s.provenance(runs)
    return s


RANK_LEGEND = ("contests won: contests the model won clearly: the {level}% bootstrap interval of its log-strength "
               "minus every other model's (the CIs' resamples) lies above 0; otherwise 'no clear winner', "
               "counted for no one, as is a contest too small to rank; log-strength: Bradley-Terry, centred at 0, "
               "with the decimals it takes to tell different strengths apart; {level}% CI: percentile bootstrap "
               "over judgements ({resamples} resamples, seed {seed}) (two CIs may overlap while the difference is clear: the strengths are estimated together and correlated); "
               "n: the comparisons the model took part in (fewer than {least}: too few to rank); a model whose "
               "poems come from several runs is one entry per run, model@run")


def legend(res) -> str:
    return RANK_LEGEND.format(least=res["min_comparisons"], level=res["level"], resamples=res.get("resamples", 200),
                              seed=res.get("seed", 0))


def strength_rows(res) -> list[list]:
    """[axis, entry, contests won, log-strength, 95% CI, n] per axis and entry (n flagged when too few),
    the strengths of an axis with the decimals it takes to tell them apart (`decimals`)."""
    rows = []
    for axis in sorted(res["models"]):
        d = decimals(v["strength"] for v in res["models"][axis].values())
        for m, v in res["models"][axis].items():
            n = f"{v['n']}" + (" (too few)" if v["n"] < res["min_comparisons"] else "")
            rows.append([axis, m, res["wins"][axis].get(m, 0), signed(v["strength"], d),
                         f"[{signed(v['lo'], d)}, {signed(v['hi'], d)}]", n])
    return rows


def decimals(values, tol: float = 1e-6) -> int:
    """The fewest decimals, 2 to 6, at which values more than `tol` (`bradley_terry.TIE_TOL`) apart
    print apart (at 6 any two more than 1e-6 apart do)."""
    vs = sorted(values)
    for d in range(2, 6):
        if all(signed(a, d) != signed(b, d) for a, b in zip(vs, vs[1:]) if b - a > tol):
            return d
    return 6


def signed(x: float, d: int = 2) -> str:
    """+0.12 at d decimals; a value that rounds to zero is +0.00, never -0.00."""
    return f"{round(x, d) or 0.0:+.{d}f}"


def _margin(leader: str, other: str, m: dict, level: int) -> str:
    d = decimals([0.0, m["diff"], m["lo"], m["hi"]])
    return (f"{leader} - {other} {signed(m['diff'], d)}, {level}% CI [{signed(m['lo'], d)}, {signed(m['hi'], d)}]")


def contest_verdict(c: dict, least: int, level: int = 95, word: str = "winner") -> str:
    """'winner A (A - B +0.85, 95% CI [+0.20, +1.50])', 'no clear winner (A, B): A - B +0.01, 95% CI
    [-0.03, +0.04]' or '... equal strengths', and/or why a contest is too small to rank. The margin
    shown is the leader's over the entry it is least clearly ahead of."""
    m, lead = c.get("margins", {}), c["leader"]
    near = min(m, key=lambda x: (m[x]["lo"], x)) if m else None
    said = ""
    if c["contenders"]:
        said = f"no clear {word} ({', '.join(c['contenders'])}): " + (
            _margin(lead, near, m[near], level) if lead else "equal strengths")
    elif lead and not c["too_small"]:
        said = f"{word} {lead}" + (f" ({_margin(lead, near, m[near], level)})" if near else "")
    if c["too_small"]:
        ahead = f"leader {lead}, " if lead and not c["contenders"] else ""
        said += ("; " if said else "") + (f"too few comparisons to rank (fewest for one model: {c['fewest']} "
                                          f"< {least}; {ahead}no win counted)")
    return said


def parsed(p: dict) -> float:
    """A run's parse rate on one topic: its poems over its own draws. A summary written before runs
    counted their own draws (no `drawn`) counted every draw of its file: its rate is the file's poems
    (`available`) over them."""
    if "drawn" in p:
        return p["poems"] / max(p["attempts"], 1)
    return p.get("available", p["poems"]) / max(p["attempts"], 1)


def verdict_rows(rk) -> list[list]:
    """[topic, axis, verdict, comparisons, judgements] per contest, then per axis over all topics."""
    least, level = rk["min_comparisons"], rk["level"]
    rows = [[c["topic"], c["axis"], contest_verdict(c, least, level), c["comparisons"], c["judgements"]]
            for c in rk["contests"]]
    for axis, v in rk["overall"].items():
        games = sum(c["comparisons"] for c in rk["contests"] if c["axis"] == axis)
        said = contest_verdict(v, least, level, word="strongest")
        rows.append(["all topics", axis, said, games, sum(c["judgements"] for c in rk["contests"] if c["axis"] == axis)])
    return rows


def kappa_value(k: dict) -> str:
    return f"{k['kappa']:+.2f}" if k["kappa"] is not None else f"undefined ({k['note'].split(': ', 1)[-1]})"


def control_text(c: dict) -> str:
    """'3/4' or 'none decided', with the undecided counted apart and a flag below 100%."""
    said = f"{c['correct']}/{c['controls']}" if c["controls"] else "none decided"
    return said + (f" ({c['undecided']} undecided, left out)" if c["undecided"] else "") + \
        ("  <- below 100%" if c["flag"] else "")


def _rankings(s: Section, rk: dict, figure: Path) -> None:
    from .plots import rank_figure
    s.table(["axis", "model", "contests won", "log-strength", "95% CI", "n"], strength_rows(rk),
            "contests won and Bradley-Terry strengths per axis (Figure 5, left); " + legend(rk))
    s.table(["topic", "axis", "verdict", "comparisons", "judgements"], verdict_rows(rk),
            "each contest's verdict, then each axis' over all topics")
    rows = []
    for axis, ag in rk["agreement"].items():
        for k in ag["kappa"]:
            rows.append([axis, f"Cohen's kappa, {k['a']} vs {k['b']}", kappa_value(k), k["items"], k["undecided"],
                         _f(k["agreement"], ".2f")])
        kr = ag["krippendorff"]
        if kr["annotators"] >= 3:
            rows.append([axis, f"Krippendorff's alpha, {kr['annotators']} annotators",
                         _f(kr["alpha"], "+.2f") if kr["alpha"] is not None else kr["note"], kr["pairs"],
                         kr["undecided"], "-"])
    if rows:
        s.table(["axis", "measure", "ours", "pairs", "undecided", "raw agreement"], rows,
                "agreement per axis on the same two poems, over the pairs decided (undecided: an exact judge's "
                f"P(left) within {rk['undecided_tol']:g} of 0.5, left out; for kappa the shared pairs either left "
                f"undecided, for alpha the readings); {POETRY_KAPPA_NOTE}")
    if rk["control"]:
        s.table(["annotator", "control pairs decided", "correct", "accuracy", "undecided"],
                [[who, c["controls"], c["correct"], "-" if c["accuracy"] is None else
                  f"{100 * c['accuracy']:.0f}%" + (", below 100%" * c["flag"]), c["undecided"]]
                 for who, c in rk["control"].items()],
                "control pairs (a poem against a bag of its contest's words: the poem is the right answer); "
                "accuracy over those decided, the undecided counted apart")
    if rk["judges"]:
        s.table(["judge", "axis", "pairs", "P(first)", "shift", "mean invalid mass"],
                [[j["annotator"], j["axis"], j["pairs"], _f(j["position_bias"], ".3f"), _f(j["mean_shift"], "+.3f"),
                  _f(j["mean_invalid_mass"], ".3f")] for j in rk["judges"]],
                "exact judges' position bias: pairs = the contests' pairs of poems, control pairs apart; "
                "P(first) = mean probability of choosing the poem shown first (0.5 = none); "
                "shift = mean P(left | shown first) - P(left | shown second)")
    fig = rank_figure(rk, figure)
    if isinstance(fig, Path):
        s.figure(fig, "contests won (a clear winner only) and model strengths per axis", "poetry-ranking")
