"""The tables a researcher reads (issue #35, items 12 and 14): the games table has one unit per column,
a legend, the rounds behind each conditional determinism, and one format in the terminal and the
report; a p-value that underflows is '< 1e-300' with its true log10 (against mpmath), never '0'; a
correlation with a constant axis is 'undefined: an axis is constant', never 'nan'. Every expected
number comes from an independent computation (brute force, mpmath, scipy)."""
import json
import math
import re

import mpmath
import numpy as np
import pytest
from click.testing import CliRunner
from scipy import stats

from logitscope.cli.main import main
from logitscope.probes.determinism import OUTCOMES, summarise
from logitscope.report.build import run_report
from logitscope.report import numbers


def _ok(args):
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, (args, r.output)
    return r


def _random_games(rng, games=40, rounds=7) -> list[dict]:
    recs = []
    for g in range(games):
        probs = rng.dirichlet(np.ones(3), size=rounds)
        recs.append({"game": g, "outcomes": [OUTCOMES[i] for i in rng.integers(0, 3, rounds)],
                     "probs": probs.tolist(), "valid_mass": [0.9] * rounds,
                     "invalid_mass": rng.uniform(0, 0.2, rounds).tolist(),
                     "unexplored_mass": rng.uniform(0, 1e-5, rounds).tolist()})
    return recs


def _brute_after(recs):
    """Rounds that follow a win / tie / loss, and the mean of their max move probability, by hand."""
    got = {o: [] for o in OUTCOMES}
    for r in recs:
        for i in range(1, len(r["outcomes"])):
            got[r["outcomes"][i - 1]].append(max(r["probs"][i]))
    return {o: len(v) for o, v in got.items()}, {o: (sum(v) / len(v) if v else None) for o, v in got.items()}


# ---------------------------------------------------------------- item 12: the games table

def test_after_win_tie_loss_counts_are_the_rounds_each_rests_on():
    recs = _random_games(np.random.default_rng(5))
    recs[0]["outcomes"] = ["win"] * 7                      # a game that never ties or loses
    counts, means = _brute_after(recs)
    row = summarise(recs)
    assert row["determinism_after_rounds"] == counts
    assert sum(counts.values()) == 40 * 6                   # every round but each game's first
    assert row["determinism_after"] == pytest.approx(means)
    cells = dict(zip(numbers.GAME_HEADERS, _cells(row)))
    for o in OUTCOMES:
        assert cells[f"after {o} (n)"] == f"{means[o]:.3f} ({counts[o]})"


def _cells(row):
    return numbers.game_cells(row)


def test_the_json_carries_the_rounds_behind_each_conditional_determinism(tmp_path):
    out = _ok(["determinism", "--model", "uniform", "--games", "12", "--rounds", "5", "--seed", "3",
               "--out", str(tmp_path), "--json"]).output
    row = json.loads(out[out.index("["):])[0]
    f = next((tmp_path / "determinism-rps").glob("*.jsonl"))
    recs = [json.loads(x) for x in f.read_text().splitlines() if '"unit"' in x]
    counts, means = _brute_after(recs)
    assert row["determinism_after_rounds"] == counts and sum(counts.values()) == 12 * 4
    assert row["determinism_after"] == pytest.approx(means)


def test_every_column_has_one_unit_and_the_legend_defines_the_masses():
    recs = _random_games(np.random.default_rng(1), games=10, rounds=4)
    for r in recs:
        r["invalid_mass"] = [0.1149] * 4
        r["unexplored_mass"] = [2e-7] * 4
    recs[0]["no_valid_rounds"] = 2
    row = {"model": "m", **summarise(recs)}
    from logitscope.cli.games import determinism_table
    text = determinism_table([row])
    head, _, line = text.splitlines()
    cols = dict(zip(re.split(r"\s{2,}", head.strip()), re.split(r"\s{2,}", line.strip())))
    assert cols["invalid %"] == "11.49" and cols["unexplored %"] == "2.0e-05"     # masses in %, like the rates
    assert cols["no valid move"] == "2 of 40"
    assert float(cols["win %"]) == pytest.approx(row["win_rate"], abs=0.05)
    assert re.fullmatch(r"[-+]\d+\.\d \[[-+]\d+\.\d, [-+]\d+\.\d\]", cols["net (95% CI)"])
    legend = " ".join(numbers.GAME_LEGEND)
    for term in ("win / tie / loss %", "determinism: P(", "after win / tie / loss (n)", "invalid %:", "unexplored %:",
                 "no valid move:"):
        assert term in legend, term


def test_cli_and_report_print_the_same_games_table(tmp_path):
    """The report's games table: the terminal's cells for every shared column, invalid and unexplored
    included, net to one decimal; a summary written before the counts existed gets them from its games."""
    res = tmp_path / "res"
    _ok(["determinism", "--model", "uniform", "--games", "8", "--rounds", "4", "--out", str(res)])
    f = next((res / "determinism-rps").glob("*.jsonl"))
    lines = f.read_text().splitlines()
    summ = json.loads(lines[-1])
    from logitscope.cli.games import determinism_table
    head, _, line = determinism_table([summ]).splitlines()
    terminal = dict(zip(re.split(r"\s{2,}", head.strip()), re.split(r"\s{2,}", line.strip())))
    old = {k: v for k, v in summ.items() if k != "determinism_after_rounds"}       # an older file's summary
    f.write_text("\n".join(lines[:-1] + [json.dumps(old)]) + "\n")
    import html
    run_report(res, tmp_path / "rep" / "report.html")
    page = (tmp_path / "rep" / "report.html").read_text()
    part = page.split("<section id='games'>")[1].split("</section>")[0]
    t = re.findall(r"<table.*?</table>", part, re.S)[0]
    rows = [[html.unescape(c) for c in re.findall(r"<t[dh]>(.*?)</t[dh]>", r, re.S)] for r in re.findall(r"<tr>(.*?)</tr>", t, re.S)]
    report = dict(zip(rows[0], rows[1]))
    for h in numbers.GAME_HEADERS:           # the page keeps an interval on one line with no-break spaces
        assert report[h].replace("\u00a0", " ") == terminal[h], (h, report[h], terminal[h])
    assert "invalid %" in report and "unexplored %" in report
    md = (tmp_path / "rep" / "report.md").read_text()
    assert all(h in md for h in numbers.GAME_HEADERS) and all(x in md.lower() for x in ("invalid %:", "no valid move:"))


# ---------------------------------------------------------------- item 14: p-values and correlations

def _log10_sf(stat, df):
    from logitscope.probes.stats import chi2_log10_sf
    return chi2_log10_sf(stat, df)


@pytest.mark.parametrize("stat,df", [(3.0, 10), (100.0, 10), (1000.0, 10), (3150.0, 10), (15000.0, 10), (2000.0, 25),
                                     (50.0, 1)])
def test_chi2_log10_p_against_mpmath(stat, df):
    mpmath.mp.dps = 60
    want = float(mpmath.log10(mpmath.gammainc(mpmath.mpf(df) / 2, mpmath.mpf(stat) / 2, mpmath.inf, regularized=True)))
    assert _log10_sf(stat, df) == pytest.approx(want, rel=1e-10)
    sf = stats.chi2.sf(stat, df)
    if sf > 0:
        assert _log10_sf(stat, df) == pytest.approx(math.log10(sf), rel=1e-9)


def test_p_value_formatter():
    assert numbers.p_value(0.0, -674.23) == "< 1e-300 (log10 p = -674.2)"
    assert numbers.p_value(0.0) == "< 1e-300"
    assert numbers.p_value(5e-310, -309.3) == "< 1e-300 (log10 p = -309.3)"        # subnormal: digits lost
    assert numbers.p_value(0.0123) == "0.012" and numbers.p_value(3.14e-7) == "3.1e-07" and numbers.p_value(1.0) == "1"
    assert numbers.p_value(None) == "-" and numbers.p_value(float("nan")) == "-"


def test_an_underflowing_chi_square_p_prints_its_log10_not_0(tmp_path, monkeypatch):
    """1500 samples all on one integer: chi-square 15000 on 10 df, p underflows to 0; the table says
    '< 1e-300 (log10 p = -3243.1)' and --json carries the log10."""
    from logitscope.tasks.randomness import single
    probs = {str(i): float(i == 7) for i in range(11)}
    m = single.measure(probs, 1.0, 1500, np.random.default_rng(0))
    assert m["chi2_sampled"] == pytest.approx(15000) and m["p_value"] == 0.0
    row = {"model": "m", "paraphrase": 0, "temperature": 1.0, "top_p": 1.0, "probs": probs, "valid_mass": 1.0, **m}
    monkeypatch.setattr(single, "run_single", lambda *a, **k: [row])
    out = _ok(["integers", "--model", "m", "--out", str(tmp_path)]).output
    line = next(x for x in out.splitlines() if x.startswith("m "))
    assert "< 1e-300 (log10 p = -3243.1)" in line, line
    js = _ok(["integers", "--model", "m", "--out", str(tmp_path), "--json"]).output
    got = json.loads(js[js.index("["):])[0]["p_value_log10"]
    mpmath.mp.dps = 30
    assert got == pytest.approx(float(mpmath.log10(mpmath.gammainc(5, 7500, mpmath.inf, regularized=True))), rel=1e-10)
    old = {k: v for k, v in row.items() if k != "p_value_log10"}       # a unit an older version wrote
    monkeypatch.setattr(single, "run_single", lambda *a, **k: [old])
    assert "< 1e-300 (log10 p = -3243.1)" in _ok(["integers", "--model", "m", "--out", str(tmp_path)]).output


def test_a_constant_axis_correlation_is_undefined_not_nan():
    with pytest.warns(stats.ConstantInputWarning):
        res = stats.spearmanr([1, 2, 3, 4], [0.5, 0.5, 0.5, 0.5])
    assert math.isnan(res.statistic)
    assert numbers.corr(float(res.statistic)) == "undefined: an axis is constant" == numbers.corr(None)
    assert numbers.spearman({"rho": float(res.statistic), "p": float(res.pvalue), "n": 4}, "poems") == \
        "undefined: an axis is constant (4 poems)"
    assert numbers.spearman({"rho": 0.5, "p": 0.0123, "n": 9}, "poems") == "rho +0.50 (p 0.012, 9 poems)"


def test_poetry_rank_says_undefined_for_a_constant_axis(tmp_path):
    """An undecided judge (P(left) = 0.5 everywhere) leaves every preference strength at 0: Spearman of
    preference vs originality has a constant axis (the line read 'rho +nan (p nan, ...)')."""
    poems = [f"{m}|Coffee|{i}#run0" for m in ("base", "aligned") for i in range(4)]
    recs = []
    for axis, p_left in (("preference", 0.5), ("originality", None)):
        for i in range(4):
            for j in range(4):
                a, b = poems[i], poems[4 + j]
                rec = {"pair": f"{a}/{b}", "topic": "Coffee", "axis": axis, "annotator": "judge:x", "left": a,
                       "right": b, "choice": "left" if (i + j) % 3 else "right", "control": False}
                rec["winner"] = a if rec["choice"] == "left" else b
                if p_left is not None:
                    rec["p_left"] = p_left
                recs.append(rec)
    f = tmp_path / "j.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in recs))
    out = _ok(["poetry", "rank", "--judgements", str(f), "--out", str(tmp_path)]).output
    line = next(x for x in out.splitlines() if x.startswith("Spearman "))
    assert "undefined: an axis is constant (8 poems)" in line and "nan" not in line, line


def test_reward_table_says_why_a_correlation_is_undefined(tmp_path, monkeypatch):
    from logitscope.kernels import reward as kreward
    from logitscope.tasks.randomness import reward as treward
    labels = [str(i) for i in range(11)]
    rewards = [3.98, 4.37, 4.99, 5.15, 5.19, 5.03, 5.26, 5.29, 5.28, 5.01, 4.23]
    uniform = {a: 1 / 11 for a in labels}
    assert treward.constant_axis(rewards, list(uniform.values())).startswith("undefined: an axis is constant")
    res = {"task": "integers", "prompt": "p", "reward_model": "rm", "rewards": dict(zip(labels, rewards)), "best": "7",
           "models": [{"model": "uniform", "probs": uniform, "valid_mass": 1.0, "pearson": None, "spearman": None,
                       "spearman_p": None, "correlation_note": treward.constant_axis(rewards, list(uniform.values()))}]}

    class RM:
        spec = "rm"
    monkeypatch.setattr(kreward, "load_reward_model", lambda *a, **k: RM())
    monkeypatch.setattr(treward, "task_rewards", lambda *a, **k: res)
    out = _ok(["reward", "--task", "integers", "--model", "uniform", "--out", str(tmp_path)]).output
    assert "nan" not in out and "undefined" in next(x for x in out.splitlines() if x.startswith("uniform "))
    assert "uniform: pearson and spearman undefined: an axis is constant (every answer has the same " \
           "P(answer | valid))" in out
