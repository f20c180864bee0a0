"""An exact judge's P(left) within UNDECIDED_TOL of 0.5 decides nothing (issue 35.4): left out of kappa,
alpha and control accuracy (counted and shown as undecided), kept fractional in Bradley-Terry. A purely
position-biased judge reads 0.5 on every pair; it was 'left' everywhere, so its control pairs read right
or wrong by where the control sat and two such judges agreed perfectly (kappa +1.00 on 120 pairs)."""
import html
import json
import re
from types import SimpleNamespace

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.metrics import cohen_kappa_score

from logitscope.cli.main import main
from logitscope.probes.ranking import UNDECIDED_TOL, rank
from logitscope.tasks.poetry.contest import CONTROL, Pair
from logitscope.tasks.poetry.judge import judge_pairs


def _pairs(n=120, controls=2):
    out = [Pair(f"p{k}", f"X|Coffee|{k}#r", f"Y|Coffee|{k}#r") for k in range(n)]
    out += [Pair(f"c{k}", CONTROL, f"X|Coffee|{k}#r", control=True) if k % 2 else
            Pair(f"c{k}", f"Y|Coffee|{k}#r", CONTROL, control=True) for k in range(controls)]
    return out


def _judge(monkeypatch, name, first=lambda k: 0.5, lean=lambda k: 0.5):
    """Records of a judge whose P(A) on the k-th pair is `first(k)` (A = the poem shown first, in both
    orders: a pure position bias) or, where `first` is 0.5, `lean(k)` for the left poem (P(A) = lean with
    the left poem shown first, 1 - lean with it shown second); invalid mass 0.1."""
    import logitscope.kernels.engine.answers as answers

    def p_a(i):
        k, swapped = divmod(i, 2)
        return first(k) if first(k) != 0.5 else (1 - lean(k) if swapped else lean(k))

    def fake(lm, prompts, space, **kw):
        return [SimpleNamespace(answers={"A": 0.9 * p_a(i), "B": 0.9 * (1 - p_a(i))}, invalid_mass=0.1,
                                unexplored_mass=0.0) for i in range(len(prompts))]
    monkeypatch.setattr(answers, "answer_distributions", fake)
    return judge_pairs(SimpleNamespace(spec=name), _pairs(), lambda pid: pid, "Coffee", "preference")


def test_a_position_biased_judge_decides_nothing(monkeypatch, tmp_path):
    recs = _judge(monkeypatch, "p", lambda k: 0.7) + _judge(monkeypatch, "q", lambda k: 0.8)
    assert all(abs(r["p_left"] - 0.5) <= UNDECIDED_TOL for r in recs)
    assert {r["choice"] for r in recs} == {"undecided"} and {r["winner"] for r in recs} == {None}
    res = rank(recs, resamples=10)
    k = res["agreement"]["preference"]["kappa"][0]
    assert k["kappa"] is None and k["items"] == 0 and k["undecided"] == 120             # was +1.00 on 120 pairs
    assert res["control"]["judge:p"] == {"controls": 0, "correct": 0, "undecided": 2, "accuracy": None,
                                         "flag": False}
    for v in res["models"]["preference"].values():                                     # kept at 0.5 each
        assert abs(v["strength"]) < 1e-9
    f = tmp_path / "coffee-preference-judge.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in recs))
    out = CliRunner().invoke(main, ["poetry", "rank", "--judgements", str(f)]).output
    line = next(x for x in out.splitlines() if "Cohen's kappa judge:p vs judge:q" in x)
    assert "undefined" in line and "120 undecided, left out" in line and "+1.00" not in line
    assert "control pairs judge:p: none decided (2 undecided, left out)" in out
    assert "244 undecided" in out.splitlines()[0]


def test_old_records_at_one_half_read_as_undecided_and_a_lean_decides(monkeypatch):
    """Files the judge wrote before say choice 'left' at P(left) = 0.5: read from P(left), they are
    undecided. A lean just past the tolerance decides; kappa is over the decided pairs only, as sklearn
    computes it on those."""
    rng = np.random.default_rng(0)
    lean = rng.choice([0.5, 0.5 + 0.5 * UNDECIDED_TOL, 0.5 - 3 * UNDECIDED_TOL, 0.9, 0.1], 120)
    judge = _judge(monkeypatch, "p", lean=lambda k: lean[k % 120])
    for r in judge:
        if r["choice"] == "undecided":
            r.update(choice="left", winner=r["left"], correct=r["left"] != CONTROL)     # as written before
    person = rng.random(120) < 0.5
    people = [{"pair": f"h{k}", "topic": "Coffee", "axis": "preference", "annotator": "ann", "left": p.left,
               "right": p.right, "choice": "left" if w else "right", "winner": p.left if w else p.right,
               "control": p.control} for k, (p, w) in enumerate(zip(_pairs(), person))]
    res = rank(judge + people, resamples=5)
    k = res["agreement"]["preference"]["kappa"][0]
    decided = [i for i in range(120) if abs(judge[i]["p_left"] - 0.5) > UNDECIDED_TOL]
    assert k["items"] == len(decided) and k["undecided"] == 120 - len(decided) > 0
    want = cohen_kappa_score([judge[i]["p_left"] > 0.5 for i in decided], [bool(person[i]) for i in decided])
    assert k["kappa"] == pytest.approx(want)
    ctrl = res["control"]["judge:p"]
    assert ctrl["controls"] + ctrl["undecided"] == 2


def test_the_report_and_the_judge_show_undecided(monkeypatch, tmp_path):
    recs = _judge(monkeypatch, "p", lambda k: 0.7) + _judge(monkeypatch, "q", lambda k: 0.8)
    recs += _judge(monkeypatch, "r", lean=lambda k: 0.7 if k % 2 else 0.5)         # decides where it leans
    jdir = tmp_path / "results" / "poetry-judgements"
    jdir.mkdir(parents=True)
    (jdir / "coffee-preference-judges.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    r = CliRunner().invoke(main, ["report", str(tmp_path / "results"), "--out", str(tmp_path / "r.html")])
    assert r.exit_code == 0, r.output
    cells = re.findall(r"<td>(.*?)</td>", html.unescape((tmp_path / "r.html").read_text()))
    row = cells.index("Cohen's kappa, judge:p vs judge:q")
    assert cells[row + 1].startswith("undefined") and cells[row + 2: row + 4] == ["0", "120"]
    row = cells.index("Krippendorff's alpha, 3 annotators")
    assert cells[row + 3] == str(2 * 120 + 60)                                      # readings left out
    row = cells.index("judge:p")
    assert cells[row: row + 5] == ["judge:p", "0", "0", "-", "2"]                   # control pairs' table
    import logitscope.tasks.poetry.judge as J
    row = {"judge": "m", "topic": "Coffee", "axis": "preference", "pairs": 60, "controls": 1, "per_model": 5,
           "position_bias": 0.7, "mean_shift": 0.4, "mean_invalid_mass": 0.1, "control_correct": None,
           "control_undecided": 1, "agreement_with_people": [
               {"a": "ann", "b": "judge:m", "items": 0, "undecided": 60, "kappa": None, "agreement": None,
                "note": "undefined: 0 of the 60 shared pairs decided by both"}]}
    monkeypatch.setattr(J, "run_judge", lambda *a, **k: [row])
    out = CliRunner().invoke(main, ["poetry", "judge", "--axis", "preference", "--judge", "m"]).output
    assert re.search(r"\s60\s.*undecided\s*$", out.splitlines()[2])                 # pairs; the control undecided
    assert "judge vs ann: kappa undefined (0 of the 60 shared pairs decided by both) on 0 pairs (60 undecided" in out
