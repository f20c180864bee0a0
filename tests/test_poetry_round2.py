"""Ranking numbers and words that were wrong (issues 30 and 32): a tied contest is nobody's win, two runs
of one model are ranked apart, Bradley-Terry's prior is symmetric, and the judge's and the ranking's
columns say what they are, with n beside each strength and contests too small to rank flagged."""
import html
import json
import re

import pytest
from click.testing import CliRunner
from scipy import stats

from logitscope.cli.main import main
from logitscope.probes.ranking import MIN_COMPARISONS, TIE_TOL, rank


def _person(who, left, right, left_won, topic="Coffee", axis="preference"):
    return {"pair": f"{left}/{right}", "topic": topic, "axis": axis, "annotator": who, "left": left, "right": right,
            "choice": "left" if left_won else "right", "winner": left if left_won else right, "control": False}


def _games(a, b, a_wins, b_wins, who="ann", topic="Coffee"):
    """a_wins + b_wins judgements of poem ids `a` vs `b` (ids with attempts counted up so pairs differ)."""
    out = []
    for k in range(a_wins + b_wins):
        out.append(_person(who, f"{a}|{topic}|{k}#r0", f"{b}|{topic}|{k}#r0", k < a_wins, topic=topic))
    return out


def _rank_cli(tmp_path, recs, *extra):
    f = tmp_path / "j.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in recs))
    r = CliRunner().invoke(main, ["poetry", "rank", "--judgements", str(f), "--out", str(tmp_path), *extra])
    assert r.exit_code == 0, r.output
    return r.output


# 1. ties (issue 30.3) ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("recs, tied", [
    (_games("A", "B", 3, 3), ["A", "B"]),                                            # a 3-3 split
    (_games("A", "B", 3, 0) + _games("B", "C", 3, 0) + _games("C", "A", 3, 0), ["A", "B", "C"]),   # a cycle
])
def test_a_tied_contest_has_no_winner_and_credits_no_one(tmp_path, recs, tied):
    """Hand counts: every model won exactly as many comparisons as it lost, against opponents placed
    alike, so no model is stronger; max() named the alphabetically first one the winner."""
    for m in tied:
        won = sum(r["winner"].startswith(m + "|") for r in recs)
        played = sum(m + "|" in r["left"] + r["right"] for r in recs)
        assert 2 * won == played >= MIN_COMPARISONS
    res = rank(recs, resamples=20)
    c = res["contests"][0]
    assert c["winner"] is None and c["leader"] is None and c["contenders"] == tied
    assert res["wins"]["preference"] == {m: 0 for m in tied}
    out = _rank_cli(tmp_path, recs)
    assert f"no clear winner ({', '.join(tied)}): equal strengths" in out and "winner A" not in out


def test_a_near_exact_tie_is_a_tie_and_a_real_lead_is_a_win(tmp_path):
    """An exact judge that leans 1e-10 towards A on every pair: strengths equal to far within the
    tolerance (1e-9 relative at least), so no leader (every resample is the same: a zero-width interval
    that must still clear TIE_TOL); 12-1 is a win for A, counted once."""
    near = [{**r, "p_left": 0.5 + 1e-10, "annotator": "judge:m"} for r in _games("A", "B", 6, 0)]
    res = rank(near, resamples=20)
    s = res["contests"][0]["models"]
    assert abs(s["A"]["strength"] - s["B"]["strength"]) < 1e-9 <= TIE_TOL
    c = res["contests"][0]
    assert c["winner"] is None and c["leader"] is None and c["contenders"] == ["A", "B"]
    res = rank(_games("A", "B", 12, 1), resamples=20)
    assert res["contests"][0]["winner"] == "A" and res["contests"][0]["contenders"] == []
    assert res["wins"]["preference"] == {"A": 1, "B": 0}


def test_report_counts_no_win_for_a_tie(tmp_path):
    jdir = tmp_path / "results" / "poetry-judgements"
    jdir.mkdir(parents=True)
    recs = _games("A", "B", 3, 3) + _games("A", "B", 12, 1, topic="Sleep")
    (jdir / "all-preference-ann.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    r = CliRunner().invoke(main, ["report", str(tmp_path / "results"), "--out", str(tmp_path / "r.html")])
    assert r.exit_code == 0, r.output
    cells = re.findall(r"<td>(.*?)</td>", html.unescape((tmp_path / "r.html").read_text()))
    row = cells.index("A")
    assert cells[row - 1: row + 2] == ["preference", "A", "1"]        # Sleep only; coffee was a tie
    row = cells.index("B")
    assert cells[row - 1: row + 2] == ["preference", "B", "0"]


# 2. runs apart (issue 30.4) ---------------------------------------------------------------------------------

def _two_runs():
    """X's run R1 beat Y 3 of 3, X's run R2 lost 3 of 3, on one topic and axis."""
    recs = []
    for k in range(3):
        recs.append(_person("ann", f"X|Coffee|{k}#R1", f"Y|Coffee|{k}#RY", True))
        recs.append(_person("ann", f"X|Coffee|{k}#R2", f"Y|Coffee|{k}#RY", False))
    return recs


def test_two_runs_of_one_model_are_ranked_apart(tmp_path):
    """Each run is its own entry, model@run. By symmetry (Y won 3 and lost 3, against mirror-image
    opponents) Y's strength is 0 and the two runs' are opposite; pooled, X looked tied with Y."""
    res = rank(_two_runs(), resamples=20)
    s = res["models"]["preference"]
    assert sorted(s) == ["X@R1", "X@R2", "Y"]
    assert s["X@R1"]["strength"] > 0 > s["X@R2"]["strength"]
    assert s["X@R1"]["strength"] == pytest.approx(-s["X@R2"]["strength"])
    assert s["Y"]["strength"] == pytest.approx(0, abs=1e-9)
    assert (s["X@R1"]["n"], s["X@R2"]["n"], s["Y"]["n"]) == (3, 3, 6)
    assert sorted(res["contests"][0]["models"]) == ["X@R1", "X@R2", "Y"]
    out = _rank_cli(tmp_path, _two_runs())
    assert "X@R1" in out and "X@R2" in out and "runs apart" in out


def test_one_run_per_model_keeps_the_plain_name():
    res = rank(_games("A", "B", 4, 2), resamples=5)
    assert sorted(res["models"]["preference"]) == ["A", "B"]


# 5. n beside each strength, small contests flagged, headers (issue 32) ----------------------------------

def test_min_comparisons_is_the_smallest_n_where_a_clean_sweep_is_significant():
    p = {n: stats.binomtest(n, n, 0.5).pvalue for n in range(1, 12)}
    assert MIN_COMPARISONS == min(n for n, v in p.items() if v < 0.05)


def test_rank_prints_n_flags_small_contests_and_names_every_column(tmp_path):
    """Two comparisons (A won both) is too few to rank: flagged, no win counted; the table's columns
    each have a header (contests won, strength, CI, n)."""
    recs = _games("A", "B", 2, 0) + _games("A", "B", 12, 1, topic="Sleep")
    res = rank(recs, resamples=20)
    small = next(c for c in res["contests"] if c["topic"] == "coffee")
    assert small["too_small"] and small["winner"] is None and small["leader"] == "A"
    assert {m: v["n"] for m, v in small["models"].items()} == {"A": 2, "B": 2}
    assert res["wins"]["preference"] == {"A": 1, "B": 0}
    out = _rank_cli(tmp_path, recs)
    header = next(ln for ln in out.splitlines() if ln.startswith("axis"))
    assert re.split(r"\s{2,}", header.strip()) == ["axis", "model", "contests won", "log-strength", "95% CI", "n"]
    rows = {tuple(re.split(r"\s{2,}", ln.strip())[:2]): re.split(r"\s{2,}", ln.strip())
            for ln in out.splitlines() if ln.startswith("preference")}
    assert rows[("preference", "A")][2] == "1" and rows[("preference", "A")][5] == "15"    # 2 + 13 comparisons
    line = next(ln for ln in out.splitlines() if ln.startswith("coffee"))
    assert "too few comparisons to rank" in line and f"< {MIN_COMPARISONS}" in line and "no win counted" in line


def test_judge_table_says_what_each_number_is(monkeypatch):
    import logitscope.tasks.poetry.judge as judge
    row = {"judge": "m", "topic": "Coffee", "axis": "preference", "pairs": 7, "per_model": 2, "position_bias": 0.61,
           "mean_shift": 0.2, "mean_invalid_mass": 0.857, "control_correct": False, "agreement_with_people": []}
    monkeypatch.setattr(judge, "run_judge", lambda *a, **k: [row])
    r = CliRunner().invoke(main, ["poetry", "judge", "--axis", "preference", "--judge", "m"])
    assert r.exit_code == 0, r.output
    header = re.split(r"\s{2,}", r.output.splitlines()[0].strip())
    assert "mean invalid mass" in header and "control pair" in header and "NO" not in r.output
    assert "judged wrong" in r.output
    for words in ("invalid mass = ", "control pair = "):
        assert words in r.output


# Bradley-Terry's prior is symmetric (found while checking 30.4) ------------------------------------------

def test_bradley_terry_is_the_maximum_of_its_penalised_likelihood_and_reversal_negates_it():
    """Against scipy: the strengths maximise the likelihood of the judgements plus PSEUDO virtual wins
    each way between every two items; reversing every judgement negates every strength (choix's `alpha`
    did not: a 3-0 winner +4.15, a mirror 0-3 loser -4.37, the 3-3 model between them +0.22)."""
    import numpy as np
    from scipy.optimize import minimize

    from logitscope.probes.bradley_terry import PSEUDO, bt_strengths
    rng = np.random.default_rng(3)
    items = list("abcde")
    comps = [(items[i], items[j], float(rng.choice([1.0, 0.0, rng.random()])))
             for i, j in (rng.choice(5, 2, replace=False) for _ in range(12))]
    wins = np.full((5, 5), PSEUDO) - PSEUDO * np.eye(5)
    for a, b, w in comps:
        wins[items.index(a), items.index(b)] += w
        wins[items.index(b), items.index(a)] += 1 - w

    def nll(s):
        d = s[:, None] - s[None, :]
        return float((wins * np.logaddexp(0, -d)).sum())
    want = minimize(nll, np.zeros(5), method="BFGS", options={"gtol": 1e-10}).x
    got = bt_strengths(comps, items)
    assert np.allclose(got, want - want.mean(), atol=1e-5)
    back = bt_strengths([(a, b, 1 - w) for a, b, w in comps], items)
    assert np.allclose(back, -got, atol=1e-7)


def test_rank_says_when_there_is_no_agreement_to_measure_and_never_prints_minus_zero(tmp_path):
    recs = _two_runs()
    out = _rank_cli(tmp_path, recs)
    assert "preference agreement: none to measure (one annotator)" in out
    assert "-0.00" not in out and re.search(r"\n\s*preference\s+Y\s+0\s+\+0\.00", out)
    assert "(6 comparisons from 6 judgements by ann)" in out


def test_the_mean_reward_is_over_the_runs_own_poems(monkeypatch):
    """A file with 12 draws of a topic (poems at attempts 1, 4, 8, 9, 11, rewarded 0..4 in that order)
    rerun with --per-model 5 --max-attempts 6: the run's own draws are attempts 0..5, its poems those
    at 1 and 4. Every poem of the file is scored, but the mean reward is over the run's two (0.5),
    not over the file's first five poems (2.0 before)."""
    import contextlib

    import logitscope.kernels.reward as R
    import logitscope.tasks.results as results
    from logitscope.tasks.poetry import generate as G
    kept = (1, 4, 8, 9, 11)
    units = [{"type": "unit", "kind": "draw", "topic": "Coffee", "attempt": a,
              "poem": [f"line {a}"] * 4 if a in kept else None, "reason": None if a in kept else "x",
              "id": f"m|Coffee|{a}#H", "text": ""} for a in range(12)]

    class RF:
        hash = "H"

        def records(self, kind):
            return units

        def open(self, header):
            return contextlib.nullcontext(None)
    reward = {"\n".join([f"line {a}"] * 4): float(i) for i, a in enumerate(kept)}
    monkeypatch.setattr(R, "load_reward_model", lambda spec, **kw: type("RM", (), {"spec": "rm"})())
    monkeypatch.setattr(R, "score", lambda rm, pairs: [reward[resp] for _, resp in pairs])
    monkeypatch.setattr(results, "append", lambda fh, recs: None)
    mine = G.own_draws(units, 5, 6)
    own = {d["id"] for d in mine if d["poem"] is not None}
    assert own == {"m|Coffee|1#H", "m|Coffee|4#H"}
    got = G.score_poems(RF(), "rm", {}, None, own=own)
    assert got["mean"] == {"Coffee": 0.5} and got["poems"] == {"Coffee": 2}
    assert G.score_poems(RF(), "rm", {}, None)["mean"] == {"Coffee": 2.0}      # every poem of the file
