"""Poetry numbers that were wrong (issue 23): the Bradley-Terry bootstrap resamples whole judgements,
agreement is measured per axis, an undefined Krippendorff's alpha is reported with its reason."""
import json

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.metrics import cohen_kappa_score

from logitscope.cli.main import main


def _rank_json(tmp_path, recs, *extra):
    f = tmp_path / "j.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in recs))
    r = CliRunner().invoke(main, ["poetry", "rank", "--judgements", str(f), "--out", str(tmp_path), "--json", *extra])
    assert r.exit_code == 0, r.output
    return json.loads(r.output[r.output.index("{"):])


def _person(who, axis, left, right, left_won, topic="Coffee"):
    return {"pair": f"{left}/{right}", "topic": topic, "axis": axis, "annotator": who, "left": left, "right": right,
            "choice": "left" if left_won else "right", "winner": left if left_won else right, "control": False}


def test_an_undecided_judge_gives_zero_strengths_with_zero_width_intervals(tmp_path):
    """A judge with P(left) = 0.5 on every pair: each judgement is one comparison split half and half,
    so every resample is symmetric too and every strength and CI bound is 0 (resampling the two
    halves apart gave intervals like [-0.29, +0.38])."""
    poems = [f"{m}|Coffee|{i}#run0" for m in ("base", "aligned", "other") for i in range(5)]
    recs = []
    for k in range(60):
        a, b = poems[k % 15], poems[(k * 7 + 5) % 15]
        if a.split("|")[0] == b.split("|")[0]:
            b = poems[(poems.index(b) + 5) % 15]
        recs.append({**_person("judge:x", "preference", a, b, True), "p_left": 0.5, "choice": "left"})
    res = _rank_json(tmp_path, recs)
    contest = res["contests"][0]
    for table in (contest["poems"], contest["models"], res["models"]["preference"]):
        for v in table.values():
            assert abs(v["strength"]) < 1e-9 and abs(v["lo"]) < 1e-9 and abs(v["hi"]) < 1e-9, v


def test_agreement_is_per_axis_beside_sklearn(tmp_path):
    """Two annotators who agree on every originality pair and disagree on every preference pair:
    kappa 1 and -1 per axis (pooled over both axes it read 0)."""
    pairs = [(f"a|Coffee|{i}#r", f"b|Coffee|{i}#r") for i in range(6)]
    x = [True, False, True, True, False, False]
    recs = [_person("ann", "originality", left, right, w) for (left, right), w in zip(pairs, x)]
    recs += [_person("bob", "originality", left, right, w) for (left, right), w in zip(pairs, x)]
    recs += [_person("ann", "preference", left, right, w) for (left, right), w in zip(pairs, x)]
    recs += [_person("bob", "preference", left, right, not w) for (left, right), w in zip(pairs, x)]
    res = _rank_json(tmp_path, recs)
    got = {axis: a["kappa"][0]["kappa"] for axis, a in res["agreement"].items()}
    assert got["originality"] == pytest.approx(cohen_kappa_score(x, x)) == pytest.approx(1.0)
    assert got["preference"] == pytest.approx(cohen_kappa_score(x, [not w for w in x])) == pytest.approx(-1.0)
    r = CliRunner().invoke(main, ["poetry", "rank", "--judgements", str(tmp_path / "j.jsonl"), "--out", str(tmp_path)])
    assert "originality agreement (the study's annotators: kappa 0.33):\n  Cohen's kappa ann vs bob +1.00" in r.output
    assert "preference agreement (the study's annotators: kappa 0.67):\n  Cohen's kappa ann vs bob -1.00" in r.output


def test_krippendorff_undefined_when_every_label_is_the_same(tmp_path):
    """Three annotators who all pick the same poem on every pair: no variation, alpha undefined (the
    krippendorff package raised 'more than one value in the domain')."""
    pairs = [(f"a|Coffee|{i}#r", f"b|Coffee|{i}#r") for i in range(4)]
    recs = [_person(who, "preference", left, right, True) for who in ("ann", "bob", "cy") for left, right in pairs]
    res = _rank_json(tmp_path, recs)
    k = res["agreement"]["preference"]["krippendorff"]
    assert k["alpha"] is None and "same answer on every pair" in k["note"] and k["annotators"] == 3
    r = CliRunner().invoke(main, ["poetry", "rank", "--judgements", str(tmp_path / "j.jsonl"), "--out", str(tmp_path)])
    assert r.exit_code == 0 and "Krippendorff's alpha undefined" in r.output
    # with variation it is the package's value over the annotators x pairs table
    import krippendorff
    recs[-1] = _person("cy", "preference", *pairs[-1], False)
    res = _rank_json(tmp_path, recs)
    table = np.array([[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1]], dtype=float)
    want = krippendorff.alpha(reliability_data=table, level_of_measurement="nominal")
    assert res["agreement"]["preference"]["krippendorff"]["alpha"] == pytest.approx(want)
