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


def test_the_batched_fit_is_the_maximum_likelihood_choix_and_scipy_find():
    """Bradley-Terry strengths (Newton, batched over resamples) equal choix's fit to its own tolerance and
    scipy's optimum of the same penalised likelihood: random fractional win matrices, sweeps included."""
    import choix
    from scipy.optimize import minimize

    from logitscope.probes import bradley_terry as bt
    rng = np.random.default_rng(7)
    for trial in range(60):
        k = int(rng.integers(2, 7))
        wins = rng.random((k, k)) * rng.integers(0, 6, (k, k))
        np.fill_diagonal(wins, 0)
        if trial % 3 == 0:
            wins = np.triu(wins) * 5                                       # a chain of sweeps
        got = bt._fit(wins)
        w = wins + PSEUDO * (1 - np.eye(k))
        ref = choix.ilsr_pairwise_dense(w)
        assert np.abs(got - (ref - ref.mean())).max() < 1e-6

        def nll(s, w=w):
            d = s[:, None] - s[None, :]
            return float((w * np.logaddexp(0.0, -d)).sum())
        opt = minimize(nll, np.zeros(k), method="BFGS", options={"gtol": 1e-10}).x
        assert np.abs(got - (opt - opt.mean())).max() < 1e-5
        assert nll(got) <= nll(opt - opt.mean()) + 1e-9
        many = bt._fit_many(np.stack([wins, wins.T]))
        assert np.allclose(many[0], got, atol=1e-12) and np.allclose(many[1], -got, atol=1e-9)


def test_the_verdict_rests_on_enough_resamples_and_says_them(tmp_path):
    """2000 resamples (the 2.5th percentile on 50 of them, not 5): the rank legend names them and the seed."""
    from logitscope.probes.bradley_terry import RESAMPLES
    assert RESAMPLES >= 2000
    res = rank(_games("A", "B", 10, 3))
    assert res["resamples"] == RESAMPLES and res["seed"] == 0
    from logitscope.report.sections_poetry import legend
    assert f"{RESAMPLES} resamples, seed 0" in legend(res)


def test_spearman_ties_are_relative_to_the_axis_scale():
    """Rewards on a tiny scale are ordered as scipy orders them (9 absolute decimals called them constant
    or tied); log-strengths still tie within TIE_TOL (a fit's float noise is no order)."""
    from logitscope.probes.bradley_terry import TIE_TOL
    from logitscope.probes.ranking import spearman
    keys = ["a", "b", "c", "d"]
    x = dict(zip(keys, [0.1, 0.5, 0.9, 0.3]))
    for scale, shift in [(1e-10, 0.0), (1e-10, 2.0), (1.0, 0.0), (1e6, 0.0)]:
        y = dict(zip(keys, [shift + scale * v for v in (1, 3, 9, 2)]))
        want = stats.spearmanr(list(x.values()), list(y.values())).statistic
        if shift and scale < 1e-9 * shift:
            continue                                                        # below float64's grid at 2.0: ties
        assert spearman(x, y)["rho"] == pytest.approx(want), (scale, shift)
    noise = dict(zip(keys, [1e-16, -2e-16, 3e-9, 0.0]))                    # strengths of an even axis
    assert spearman(noise, x, atol=(TIE_TOL, None))["undefined"] == "an axis is constant"
    assert spearman(dict(zip(keys, [0.0] * 4)), x)["undefined"] == "an axis is constant"


def test_krippendorff_pairs_are_the_pairs_alpha_reads():
    """'pairs' beside alpha counts the pairs two or more annotators decided (alpha reads only those), as
    kappa's pairs are those both decided: 3 shared pairs and 20 judged by one annotator are 3 pairs."""
    from logitscope.probes.ranking import krippendorff_alpha
    js = []
    for k in range(3):
        for who, left_won in (("a", True), ("b", k != 1), ("c", k == 0)):
            js.append({**_judgement(f"X|t|{k}", f"Y|t|{k}", left_won, who=who), "pair": f"p{k}"})
    js += [{**_judgement(f"X|t|s{k}", f"Y|t|s{k}", True, who="a"), "pair": f"solo{k}"} for k in range(20)]
    got = krippendorff_alpha(js)
    assert got["pairs"] == 3 and got["annotators"] == 3
    import krippendorff
    data = np.array([[1, 1, 1], [1, 0, 1], [1, 0, 0]], dtype=float)        # annotators x shared pairs
    assert got["alpha"] == pytest.approx(krippendorff.alpha(reliability_data=data, level_of_measurement="nominal"))
