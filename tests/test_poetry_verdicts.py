"""A contest's winner must be clearly ahead (issue 35.3): the 95% bootstrap interval of the leader's
log-strength minus every other entry's must lie above 0, else 'no clear winner (A, B)', credited to no
one in `rank`, the report and the figure; strengths print with the decimals it takes to tell them apart.
Checked against an independent bootstrap of the two-entry difference (scipy), not numbers from a run."""
import html
import json
import re

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import stats

from logitscope.cli.main import main
from logitscope.probes.bradley_terry import PSEUDO
from logitscope.probes.ranking import rank


def _judgement(left, right, left_won, who="ann", topic="Coffee", p_left=None):
    rec = {"pair": f"{left}/{right}", "topic": topic, "axis": "preference", "annotator": who, "left": left,
           "right": right, "choice": "left" if left_won else "right", "winner": left if left_won else right,
           "control": False}
    return rec if p_left is None else {**rec, "p_left": p_left}


def _games(a, b, a_wins, b_wins, topic="Coffee"):
    return [_judgement(f"{a}|{topic}|{k}#r", f"{b}|{topic}|{k}#r", k < a_wins, topic=topic)
            for k in range(a_wins + b_wins)]


def _exact_bootstrap_lo(a_wins, n):
    """For two entries, Bradley-Terry with PSEUDO virtual wins each way gives A - B = log((w + PSEUDO) /
    (n - w + PSEUDO)) for w wins of A in n; resampling n judgements makes w ~ Binomial(n, a_wins / n), so
    the percentile interval's lower end is exact: no Monte Carlo, no choix."""
    w = stats.binom.ppf(0.025, n, a_wins / n)
    return float(np.log((w + PSEUDO) / (n - w + PSEUDO)))


@pytest.mark.parametrize("a_wins, b_wins", [(4, 2), (5, 2), (7, 3), (12, 1), (25, 5), (6, 6)])
def test_a_winner_is_clearly_ahead_as_the_exact_bootstrap_says(a_wins, b_wins):
    """4-2, 5-2 and 7-3 lead but not clearly (their difference's interval holds 0; each was 'winner A');
    12-1 and 25-5 are clear; 6-6 has no leader. Cases chosen away from the boundary, where 200 resamples
    cannot disagree with the exact bootstrap."""
    n = a_wins + b_wins
    clear = a_wins != b_wins and _exact_bootstrap_lo(a_wins, n) > 0
    assert clear == ((a_wins, b_wins) in [(12, 1), (25, 5)])
    c = rank(_games("A", "B", a_wins, b_wins))["contests"][0]
    assert (c["winner"] == "A") == clear
    assert c["contenders"] == ([] if clear else ["A", "B"])
    d = c["margins"]["B"]
    assert d["diff"] == pytest.approx(np.log((a_wins + PSEUDO) / (b_wins + PSEUDO)), abs=1e-6)
    assert (d["lo"] > 0) == clear


def test_an_exact_judge_hovering_at_one_half_names_no_winner_and_prints_apart(tmp_path):
    """The issue's case: a judge whose P(left) wanders a little around 0.5 leans a hair towards A. Both
    strengths printed +0.00 with CIs [-0.01, +0.02] and [-0.02, +0.01], and the line said 'winner A'. The
    difference's interval, by scipy's own bootstrap of the closed form, holds 0: no clear winner; the
    strengths print with enough decimals to differ."""
    rng = np.random.default_rng(1)
    p = 0.5 + 0.002 + rng.uniform(-0.03, 0.03, 40)
    recs = [_judgement(f"A|Coffee|{k}#r", f"B|Coffee|{k}#r", True, who="judge:m", p_left=float(x))
            for k, x in enumerate(p)]
    diff = stats.bootstrap((p,), lambda x: np.log((x.sum() + PSEUDO) / ((1 - x).sum() + PSEUDO)),
                           n_resamples=4000, method="percentile", random_state=2).confidence_interval
    assert diff.low < 0 < diff.high
    res = rank(recs)
    s = res["models"]["preference"]
    assert s["A"]["strength"] - s["B"]["strength"] == pytest.approx(np.log((p.sum() + PSEUDO) / ((1 - p).sum() + PSEUDO)),
                                                                     abs=1e-6)
    assert round(s["A"]["strength"], 2) == round(s["B"]["strength"], 2) == 0       # both '+0.00' before
    c = res["contests"][0]
    assert c["winner"] is None and c["leader"] == "A" and c["contenders"] == ["A", "B"]
    f = tmp_path / "coffee-preference-judge.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in recs))
    out = CliRunner().invoke(main, ["poetry", "rank", "--judgements", str(f)]).output
    assert "no clear winner (A, B): A - B +" in out and "winner A" not in out
    rows = {m: re.split(r"\s{2,}", ln.strip()) for ln in out.splitlines() for m in "AB"
            if re.match(rf"\s*preference\s+{m}\s", ln)}
    assert rows["A"][2] == rows["B"][2] == "0"                                    # contests won
    assert rows["A"][3] != rows["B"][3]
    for m in "AB":
        assert float(rows[m][3]) == pytest.approx(s[m]["strength"], abs=0.51 * 10 ** -len(rows[m][3].split(".")[1]))
    assert "excludes 0" not in out and "lies above 0" in out                     # the legend says the rule


def test_three_entries_need_a_clear_lead_over_each():
    """A beats C 12-1 and B beats C 12-1, A and B split 4-3: A leads, but not clearly over B (a 4-3 split),
    so no clear winner (A, B); C, clearly behind, is not named."""
    recs = _games("A", "C", 12, 1) + [_judgement(f"B|Coffee|{k}#r", f"C|Coffee|{k}#r", k < 12) for k in range(13)]
    recs += [_judgement(f"A|Coffee|{k}#r", f"B|Coffee|{k + 1}#r", k < 4) for k in range(7)]
    c = rank(recs)["contests"][0]
    assert c["leader"] == "A" and c["winner"] is None and c["contenders"] == ["A", "B"]
    assert c["margins"]["C"]["lo"] > 0 >= c["margins"]["B"]["lo"]


def _report(tmp_path, recs):
    jdir = tmp_path / "results" / "poetry-judgements"
    jdir.mkdir(parents=True)
    (jdir / "all-preference-ann.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    r = CliRunner().invoke(main, ["report", str(tmp_path / "results"), "--out", str(tmp_path / "r.html")])
    assert r.exit_code == 0, r.output
    return re.findall(r"<td>(.*?)</td>", html.unescape((tmp_path / "r.html").read_text()))


def test_rank_report_and_figure_agree_on_who_won(tmp_path, monkeypatch):
    """Coffee 5-2 (no clear winner), Sleep 12-1 (A clearly): one win for A in the table, in the report's
    table and verdicts, and in the figure's bars, whose grey bar counts the contest without a winner."""
    recs = _games("A", "B", 5, 2) + _games("A", "B", 12, 1, topic="Sleep")
    res = rank(recs)
    assert res["wins"]["preference"] == {"A": 1, "B": 0} and res["no_winner"]["preference"] == 1
    cells = _report(tmp_path, recs)
    row = cells.index("A")
    assert cells[row - 1: row + 2] == ["preference", "A", "1"]
    verdicts = {cells[i]: cells[i + 2] for i in range(len(cells) - 2) if cells[i] in ("coffee", "sleep")}
    assert verdicts["coffee"].startswith("no clear winner (A, B): A - B +")
    assert verdicts["sleep"].startswith("winner A (A - B +")
    import logitscope.report.plots as plots
    drawn = {}
    monkeypatch.setattr(plots, "_save", lambda fig, plt, path: drawn.setdefault("fig", fig))
    plots.rank_figure(res, tmp_path / "x.png")
    bars = {c.get_label(): [p.get_height() for p in c.patches] for c in drawn["fig"].axes[0].containers}
    assert bars == {"A": [1], "B": [0], "no winner (unclear or too few)": [1]}
