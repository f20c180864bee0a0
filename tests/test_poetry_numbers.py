"""Poetry numbers that were wrong (issue 23): the Bradley-Terry bootstrap resamples whole judgements,
agreement is measured per axis, an undefined Krippendorff's alpha is reported with its reason."""
import json
import re

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
    assert "originality agreement:\n  Cohen's kappa ann vs bob +1.00" in r.output
    assert "preference agreement:\n  Cohen's kappa ann vs bob -1.00" in r.output
    assert "kappa 0.33 / 0.27 / 0.67 over its three axes" in r.output          # not given to an axis


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


def test_report_shows_agreement_per_axis_control_and_judge_bias(tmp_path):
    """The report's poetry section: kappa per axis beside the study's per-axis kappa, control accuracy,
    the exact judge's position bias (against a hand computation), the ranking PNG in a visible place."""
    import html
    jdir = tmp_path / "results" / "poetry-judgements"
    jdir.mkdir(parents=True)
    pairs = [(f"a|Coffee|{i}#r", f"b|Coffee|{i}#r") for i in range(6)]
    x = [True, False, True, True, False, False]
    recs = [_person(who, axis, left, right, w if who == "ann" or axis == "originality" else not w)
            for axis in ("originality", "preference") for who in ("ann", "bob") for (left, right), w in zip(pairs, x)]
    recs.append({**_person("ann", "preference", "control", pairs[0][0], False), "control": True, "correct": True})
    firsts, seconds = [0.9, 0.8, 0.7], [0.2, 0.5, 0.3]
    recs += [{**_person("judge:m", "preference", left, right, True), "p_left": (f + s) / 2, "p_left_first": f,
              "p_left_second": s, "order_left_first": {"invalid": 0.1}, "order_right_first": {"invalid": 0.3}}
             for (left, right), f, s in zip(pairs, firsts, seconds)]
    (jdir / "coffee-preference-all.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    r = CliRunner().invoke(main, ["report", str(tmp_path / "results"), "--out", str(tmp_path / "r.html")])
    assert r.exit_code == 0, r.output
    page = html.unescape((tmp_path / "r.html").read_text())
    cells = re.findall(r"<td>(.*?)</td>", page)
    row = cells.index("Cohen's kappa, ann vs bob")
    assert cells[row - 1: row + 5] == ["originality", "Cohen's kappa, ann vs bob", "+1.00", "6", "0", "1.00"]
    row = cells.index("Cohen's kappa, ann vs bob", row + 1)
    assert cells[row - 1: row + 5] == ["preference", "Cohen's kappa, ann vs bob", "-1.00", "6", "0", "0.00"]
    assert "0.33 / 0.27 / 0.67 over its three axes" in page
    bias = np.mean(firsts + [1 - s for s in seconds])
    shift = np.mean([f - s for f, s in zip(firsts, seconds)])
    row = cells.index("judge:m")
    assert cells[row: row + 6] == ["judge:m", "preference", "3", f"{bias:.3f}", f"{shift:+.3f}", "0.200"]
    row = cells.index("ann")                                            # the control pairs' table
    assert cells[row: row + 5] == ["ann", "1", "1", "100%", "0"]
    assert (jdir / "ranking.png").is_file() and not (tmp_path / "results" / ".report").exists()


def test_alpha_is_undefined_when_only_a_singly_judged_pair_varies():
    """Three annotators agree on every pair two or more of them judged; the one different label is on
    a pair only one judged: Krippendorff's alpha is undefined (said why), not printed as nan."""
    from logitscope.probes.ranking import krippendorff_alpha, pair_key
    pairs = [(f"m1|coffee|{i}#h1", f"m2|coffee|{i}#h2") for i in range(3)]

    def j(who, left, right, win):
        return {"pair": pair_key("preference", left, right), "topic": "coffee", "axis": "preference",
                "annotator": who, "left": left, "right": right, "choice": "left" if win == left else "right",
                "winner": win, "control": False}
    recs = [j("a1", *pairs[0], pairs[0][0]), j("a1", *pairs[1], pairs[1][0]), j("a1", *pairs[2], pairs[2][1])]
    recs += [j(w, *p, p[0]) for w in ("a2", "a3") for p in pairs[:2]]
    got = krippendorff_alpha(recs)
    assert got["alpha"] is None and "undefined" in got["note"]


def test_a_run_reports_its_own_poems_not_the_files(tmp_path, monkeypatch):
    """A rerun with a smaller --per-model reports that many poems per topic (the file holds more,
    said as 'available'); generation is scripted so every draw parses."""
    from types import SimpleNamespace

    import logitscope.kernels.engine.generate as gen
    from logitscope.tasks.poetry.generate import run_generate
    from logitscope.testing import bytelevel_tokenizer, tiny_lm
    lm = tiny_lm("llama", bytelevel_tokenizer())
    monkeypatch.setattr(gen, "generate", lambda lm, ids, indices, **kw: [
        SimpleNamespace(text=f"Line one {i},\nline two,\nline three,\nline four.") for i in indices])
    first = run_generate([lm], topics=["Coffee"], per_model=6, out=tmp_path)[0]
    again = run_generate([lm], topics=["Coffee"], per_model=2, out=tmp_path)[0]
    assert first["topics"]["Coffee"]["poems"] == 6 and first["poems"] == 6
    assert again["topics"]["Coffee"]["poems"] == 2 and again["poems"] == 2
    assert again["topics"]["Coffee"]["available"] == first["topics"]["Coffee"]["available"] >= 6
