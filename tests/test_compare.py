"""`probe compare` (issue 23): the sequences verdict is closeness to uniform, every row uses exactly
the run's n units, the entropy row is the token-weighted mean with a bootstrap CI of that same
estimator, and compare, the task's summary and the report print the same number for the same
(model, setting, n). Tiny random models; the never-repeating source is written into a result file
that compare then resumes from."""
import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from logitscope.cli.main import main
from logitscope.probes.determinism import net_scores
from logitscope.probes.stats import expected_repeats
from logitscope.probes.tokens import entropy_summary
from logitscope.tasks.results import slug
from logitscope.testing import save_tiny_lm


def _ok(args):
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, (args, r.output)
    return r


def _json(r):
    return json.loads(r.output[r.output.index("{"):])


def _records(path, kind="unit"):
    return [json.loads(x) for x in open(path) if x.strip() and json.loads(x).get("type") == kind]


def _rewrite(path, change):
    """Apply change(record) to every unit record of a result file (and drop its summaries)."""
    lines = []
    for x in open(path):
        rec = json.loads(x)
        if rec.get("type") == "summary":
            continue
        lines.append(json.dumps(change(rec) if rec.get("type") == "unit" else rec) + "\n")
    Path(path).write_text("".join(lines))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cmp")
    return str(save_tiny_lm(tmp / "a", "llama", peak=2.0, seed=5)), str(save_tiny_lm(tmp / "b", "llama", peak=1.0, seed=7))


def test_expected_repeats_is_exact():
    """10 - E[distinct] for ten uniform draws from 0..10, against the exact occupancy distribution."""
    p = np.zeros(11)
    p[0] = 1.0                                        # p[j]: P(j distinct values so far)
    for _ in range(10):
        q = np.zeros(11)
        q[:] += p * np.arange(11) / 11                # a value seen before
        q[1:] += p[:-1] * (11 - np.arange(10)) / 11   # a new value
        p = q
    assert expected_repeats() == pytest.approx(10 - (p * np.arange(11)).sum(), abs=1e-12)
    assert round(expected_repeats(), 2) == 3.24


def test_sequences_verdict_is_closeness_to_uniform(tiny, tmp_path):
    """A source that never repeats is *less* random than the uniform oracle (0.0 vs 3.24 repeats)."""
    a, _ = tiny
    args = ["compare", "--model", "uniform", "--model", a, "--tasks", "sequences", "--quick", "--out", str(tmp_path),
            "--json"]
    first = _json(_ok(args))
    path = next(p for p in (tmp_path / "sequences").glob("*.jsonl") if "uniform" not in p.name)
    _rewrite(path, lambda r: {**r, "text": "0, 1, 2, 3, 4, 5, 6, 7, 8, 9", "numbers": list(range(10))})
    row = _json(_ok(args))["rows"][0]
    assert row["more_random"] == "A"                              # the uniform oracle
    assert first["rows"][0]["n"][0] == 20
    uni = [u["numbers"] for u in _records(next((tmp_path / "sequences").glob("uniform*.jsonl")))[:20]]
    mean_uni = np.mean([10 - len(set(s)) for s in uni])
    assert row["a"] == pytest.approx(abs(mean_uni - expected_repeats()))
    assert row["b"] == pytest.approx(expected_repeats())         # 0 repeats: 3.24 away from uniform
    assert row["lo"] <= row["diff"] <= row["hi"] and row["lo"] > 0
    assert row["n"] == [20, 20] and "parsed 20 of 20 / 20 of 20" in row["note"]


def test_rows_use_exactly_the_runs_n(tiny, tmp_path):
    """Earlier, bigger runs in the same files (40 sequences, 12 games) do not leak into compare's
    rows: quick uses sequences 0..19 and games 0..9, as its summaries do."""
    a, _ = tiny
    out = str(tmp_path)
    _ok(["sequences", "--model", "uniform", "--samples", "40", "--out", out])
    _ok(["determinism", "--model", a, "--games", "12", "--rounds", "5", "--out", out])
    res = _json(_ok(["compare", "--model", "uniform", "--model", a, "--tasks", "sequences,rps", "--quick",
                     "--out", out, "--json"]))
    seq, rps = res["rows"]
    games = sorted(_records(next((tmp_path / "determinism-rps").glob(f"{slug(a)}-*.jsonl"))), key=lambda g: g["game"])
    assert len(games) == 12
    assert rps["b"] == pytest.approx(net_scores(games[:10]).mean()) and rps["n"] == [10, 10]
    summary = _records(next((tmp_path / "determinism-rps").glob(f"{slug(a)}-*.jsonl")), "summary")[-1]
    assert summary["games"] == 10 and summary["net_score"] == rps["b"]
    uni = [u["numbers"] for u in _records(next((tmp_path / "sequences").glob("uniform*.jsonl")))]
    assert len(uni) == 40
    assert seq["a"] == pytest.approx(abs(np.mean([10 - len(set(s)) for s in uni[:20]]) - expected_repeats()))


def test_entropy_summary_ci_is_for_its_mean():
    """Five 2-token texts at 2.0 bits and five 64-token texts at 0.1 bits: the token-weighted mean
    is 52/330 = 0.158 and its interval (bootstrap over texts) contains it."""
    recs = [{"entropy_bits": [3.0] * 2, "top5_entropy_bits": [2.0] * 2} for _ in range(5)]
    recs += [{"entropy_bits": [0.5] * 64, "top5_entropy_bits": [0.1] * 64} for _ in range(5)]
    s = entropy_summary(recs)
    assert s["mean_top5_entropy_bits"] == pytest.approx(52 / 330)
    lo, hi = s["top5_entropy_ci95"]
    assert lo <= 52 / 330 <= hi
    rng = np.random.default_rng(123)                                 # a plain bootstrap by hand
    sums, lens = np.array([4.0] * 5 + [6.4] * 5), np.array([2] * 5 + [64] * 5)
    reps = []
    for _ in range(20000):
        i = rng.integers(0, 10, 10)
        reps.append(sums[i].sum() / lens[i].sum())
    want = np.percentile(reps, [2.5, 97.5])
    assert lo == pytest.approx(want[0], abs=0.01) and hi == pytest.approx(want[1], abs=0.01)
    assert s["mean_entropy_bits"] == pytest.approx((5 * 6 + 5 * 32) / 330)
    assert s["entropy_ci95"][0] <= s["mean_entropy_bits"] <= s["entropy_ci95"][1]
    assert "token-weighted" in s["estimator"]


PER_TOKEN = ("ids", "pieces", "logprob", "sample_logprob", "entropy_bits", "top5_entropy_bits", "top5", "top5_pieces")


def _shorten(rec):
    """Odd samples keep 2 tokens: texts of unequal length, so per-text and per-token means differ."""
    if rec["index"] % 2:
        rec = {**rec, **{k: rec[k][:2] for k in PER_TOKEN if k in rec}, "finish": "eos"}
    return rec


def _rows(section: str) -> list[list[str]]:
    body = section.split("<tbody>")[1].split("</tbody>")[0]
    return [re.findall(r"<td>(.*?)</td>", tr) for tr in re.findall(r"<tr>(.*?)</tr>", body)]


def test_one_number_in_compare_summary_and_report(tiny, tmp_path):
    """compare --quick (8 texts) after a 10-text entropy run: compare's row, the entropy summary for
    n = 8 and the report's row for n = 8 print the same token-weighted mean; the 10-text run keeps
    its own row; the CI of the difference is a bootstrap over texts of that estimator."""
    a, b = tiny
    out = str(tmp_path)
    entropy = ["entropy", "--model", a, "--model", b, "--samples", "10", "--max-new-tokens", "32", "--out", out]
    _ok(entropy)
    for f in (tmp_path / "entropy").glob("*.jsonl"):
        _rewrite(f, _shorten)
    _ok(entropy)                                                          # the 10-text summary, shortened texts
    res = _json(_ok(["compare", "--model", a, "--model", b, "--tasks", "entropy", "--quick", "--out", out, "--json"]))
    row = res["rows"][0]
    for model, got in ((a, row["a"]), (b, row["b"])):
        f = next((tmp_path / "entropy").glob(f"{slug(model)}-*.jsonl"))
        recs = _records(f)[:8]
        by_hand = sum(sum(r["top5_entropy_bits"]) for r in recs) / sum(len(r["top5_entropy_bits"]) for r in recs)
        assert got == pytest.approx(by_hand, abs=1e-12)
        summaries = {s["samples"]: s for s in _records(f, "summary")}
        assert summaries[8]["mean_top5_entropy_bits"] == got
    assert row["n"] == [8, 8] and "token-weighted" in row["measure"]
    assert row["lo"] <= row["diff"] <= row["hi"]
    page = Path(res["report"]).read_text()
    table = _rows(page.split("<section id='entropy'>")[1].split("</section>")[0])
    mine = [r for r in table if r[0] == a]
    assert sorted(r[2] for r in mine) == ["10", "8"]                      # each run its own row (n column)
    assert next(r for r in mine if r[2] == "8")[7] == f"{row['a']:.3f}"


def test_each_run_keeps_its_outputs(tiny, tmp_path):
    """A later run (another n) writes its own PNG, token pages and map beside the earlier run's; the
    report shows each run as its own row and links each run's token page (relative links)."""
    a, b = tiny
    out = str(tmp_path / "res")
    for n in ("4", "3"):
        for task in ("entropy", "diversity"):
            _ok([task, "--model", a, "--model", b, "--samples", n, "--max-new-tokens", "6", "--out", out])
    folder = tmp_path / "res" / "entropy"
    for model in (a, b):
        assert {p.name.split("-n")[-1] for p in folder.glob(f"{slug(model)}-*.tokens.html")} == {"4.tokens.html",
                                                                                             "3.tokens.html"}
    assert len(list(folder.glob("*-n4.png"))) == 1 and len(list(folder.glob("*-n3.png"))) == 1
    assert len(list((tmp_path / "res" / "diversity").glob("*.map.png"))) == 2
    rep = tmp_path / "rep"
    _ok(["report", out, "--out", str(rep)])
    page = (rep / "report.html").read_text()
    ent = page.split("<section id='entropy'>")[1].split("</section>")[0]
    assert sorted(r[2] for r in _rows(ent) if r[0] == a) == ["3", "4"]
    links = re.findall(r"<a href='([^']*\.tokens\.html)'>", ent)
    assert len(links) == 4 and all((rep / x).resolve().exists() for x in links)
    div = page.split("<section id='diversity'>")[1].split("</section>")[0]
    assert sorted(r[2] for r in _rows(div) if r[0] == a) == ["3", "4"] and div.count("data:image/png") == 2


def _bounds_by_brute_force(f, a, u, rng, n=20000):
    """An independent (min, max) of f over allocations of the pruned mass: the k + 1 vertices, the
    global optimum of the convex program on the other side (trust-constr on x >= 0, sum(x) = u, its
    result checked feasible), and thousands of random feasible allocations (dense and sparse, every
    total in [0, u]). Returns (min, max, values at the random allocations)."""
    from scipy.optimize import Bounds, LinearConstraint, minimize
    k = len(a)

    def val(x):
        q = a + x
        return f(q / q.sum())
    dense = rng.dirichlet(np.ones(k) * 0.3, n) * rng.uniform(0, u, (n, 1))
    sparse = np.zeros((n, k))
    sparse[np.arange(n), rng.integers(0, k, n)] = rng.uniform(0, u, n)
    vals = np.array([val(x) for x in np.vstack([dense, sparse])])
    vertices = [val(np.zeros(k))] + [val(u * e) for e in np.eye(k)]
    opt = []
    for sign in (1.0, -1.0):
        # the convex side's global optimum: SLSQP on the scaled simplex x = u y (y >= 0, sum y = 1),
        # its result checked feasible (trust-constr where SLSQP says it failed)
        res = minimize(lambda y, s=sign: s * val(u * y), np.full(k, 1 / k), method="SLSQP", bounds=[(0, 1)] * k,
                       constraints=[{"type": "eq", "fun": lambda y: y.sum() - 1}],
                       options={"ftol": 1e-15, "maxiter": 1000})
        if not res.success:
            res = minimize(lambda y, s=sign: s * val(u * y), np.full(k, 1 / k), method="trust-constr",
                           bounds=Bounds(0, 1), constraints=[LinearConstraint(np.ones((1, k)), 1, 1)],
                           options={"gtol": 1e-14, "xtol": 1e-16, "maxiter": 5000})
        assert abs(res.x.sum() - 1) < 1e-9 and (res.x > -1e-12).all()     # feasible
        y = np.clip(res.x, 0, None)
        opt.append(val(u * y / y.sum()))
    everything = np.concatenate([vals, vertices, opt])
    return everything.min(), everything.max(), vals


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("case", range(40))
def test_bounds_over_unexplored_are_the_closed_forms(case):
    """The range of a measure over where the pruned mass could go, for expected chi-square (convex:
    maximum at a vertex, minimum at the water-filled allocation) and entropy (concave: the reverse),
    equals an independent computation (vertices, a checked-feasible convex solver, 40,000 random
    allocations) and holds every random allocation. The old SLSQP search overshot the maximum in a
    quarter of such cases (a result 4x over the unexplored mass, used anyway) and missed interior
    minima."""
    from logitscope.probes.stats import bounds_over_unexplored, chi2_expected, entropy_bits
    rng = np.random.default_rng(case)
    k = 11
    valid = rng.choice([0.0178, 0.05, 0.3, 0.9])
    a = rng.dirichlet(np.ones(k) * rng.choice([0.2, 1.0, 5.0])) * valid
    u = float(rng.choice([2.25e-4, 1e-3, 0.02]) * valid / 0.0178 * rng.uniform(0.2, 1.0))
    for f, convex in ((lambda p: chi2_expected(p, 1500), True), (entropy_bits, False)):
        lo, hi = bounds_over_unexplored(f, a, u, convex=convex)
        bmin, bmax, vals = _bounds_by_brute_force(f, a, u, rng, n=2000)
        scale = max(abs(bmax), 1.0)
        assert lo == pytest.approx(bmin, abs=1e-7 * scale) and hi == pytest.approx(bmax, abs=1e-7 * scale)
        assert lo - 1e-9 * scale <= vals.min() and vals.max() <= hi + 1e-9 * scale


def test_water_fill_is_the_level_allocation():
    """water_fill adds exactly t, raises only entries below one level, and leaves the rest."""
    from logitscope.probes.stats import water_fill
    rng = np.random.default_rng(1)
    for _ in range(200):
        a = rng.dirichlet(np.ones(7)) * rng.uniform(0.01, 1)
        t = rng.uniform(0, 0.5)
        q = water_fill(a, t)
        assert q.sum() == pytest.approx(a.sum() + t, rel=1e-12)
        raised = q > a + 1e-15
        assert (q >= a).all() and np.allclose(q[raised], q[raised].max()) if raised.any() else t < 1e-15
        assert (a[~raised] >= q[raised].max() - 1e-15).all() if raised.any() else True
    assert np.array_equal(water_fill(np.array([0.1, 0.0, 0.3]), 0.0), [0.1, 0.0, 0.3])
    assert np.allclose(water_fill(np.array([0.1, 0.0, 0.3]), 0.1), [0.1, 0.1, 0.3])
    assert np.allclose(water_fill(np.array([0.1, 0.0, 0.3]), 0.8), [0.4, 0.4, 0.4])


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_bounds_over_unexplored_on_a_real_readout(llama_lm):
    """A tiny random Llama's exact readout of letters a-k, pruned at min_mass 1e-4 (a small valid mass,
    some unexplored): the bounds equal the independent computation for both measures."""
    from logitscope import answer_distribution
    from logitscope.probes.stats import bounds_over_unexplored, chi2_expected, entropy_bits
    d = answer_distribution(llama_lm, "Pick a letter.", "a-k", infix="Letter:", min_mass=1e-4)
    a = np.array(list(d.answers.values()))
    assert d.unexplored_mass > 0 and a.sum() > 0
    rng = np.random.default_rng(0)
    for f, convex in ((lambda p: chi2_expected(p, 1500), True), (entropy_bits, False)):
        lo, hi = bounds_over_unexplored(f, a, d.unexplored_mass, convex=convex)
        bmin, bmax, _ = _bounds_by_brute_force(f, a, d.unexplored_mass, rng, n=5000)
        scale = max(abs(bmax), 1.0)
        assert lo == pytest.approx(bmin, abs=1e-7 * scale) and hi == pytest.approx(bmax, abs=1e-7 * scale)
        assert lo <= f(a / a.sum()) <= hi
    assert bounds_over_unexplored(entropy_bits, a, 0.0, convex=False) == (entropy_bits(a / a.sum()),) * 2


def test_an_exact_difference_smaller_than_the_pruned_mass_is_no_verdict(tmp_path):
    """Two tiny models whose answer entropies differ by less than their unexplored mass could move
    them: the row shows the bounds, and no model is called more random."""
    a = str(save_tiny_lm(tmp_path / "a", "llama", peak=2.0, seed=5))
    b = str(save_tiny_lm(tmp_path / "b", "llama", peak=1.0, seed=7))
    r = CliRunner().invoke(main, ["compare", "--model", a, "--model", b, "--tasks", "integers", "--quick",
                                  "--out", str(tmp_path / "out"), "--json"])
    assert r.exit_code == 0, r.output
    row = next(x for x in json.loads(r.output[r.output.index("{"):])["rows"] if "entropy" in x["measure"])
    assert row["lo"] <= row["diff"] <= row["hi"]
    assert (row["lo"] < 0 < row["hi"]) == (row["more_random"] is None)
    assert row["lo"] < 0 < row["hi"] and row["more_random"] is None     # this pair's difference is within the bounds


def test_the_sequences_interval_holds_its_estimate_near_uniform(tiny, tmp_path):
    """A model whose mean repeats sit on the uniform value (bimodal: 0 or 6 repeats) against one that
    always repeats 3: a bootstrap of |mean - 3.24| excluded its own estimate here; the interval from
    the means' t-intervals holds it, and gives no verdict."""
    a, b = tiny
    args = ["compare", "--model", a, "--model", b, "--tasks", "sequences", "--out", str(tmp_path), "--json"]
    _ok(args)

    def seq_with(rep):
        return list(range(10 - rep)) + [0] * rep
    reps = {a: [0] * 46 + [6] * 46 + [7] * 4 + [5] * 4, b: [3] * 100}
    for model, r in reps.items():
        path = next(p for p in (tmp_path / "sequences").glob(f"{slug(model)}-*.jsonl"))
        _rewrite(path, lambda rec, r=r: {**rec, "text": ", ".join(map(str, seq_with(r[rec["index"]]))),
                                         "numbers": seq_with(r[rec["index"]])})
    row = _json(_ok(args))["rows"][0]
    assert row["a"] == pytest.approx(abs(3.24 - expected_repeats()), abs=1e-9)
    assert row["lo"] <= row["diff"] <= row["hi"] and row["more_random"] is None


def test_games_whose_moves_fell_back_to_uniform_get_no_verdict(tiny, tmp_path):
    """Tiny models spell no hiding place: every move is drawn uniformly, so the net scores are not the
    models' play. compare says how many rounds and gives no verdict; the report's games table and the
    determinism table show the count."""
    a, b = tiny
    res = _json(_ok(["compare", "--model", a, "--model", b, "--tasks", "hide-seek", "--quick", "--out", str(tmp_path),
                     "--json"]))
    row = res["rows"][0]
    assert row["more_random"] is None and "no verdict" in row["note"]
    assert re.search(r"no valid move reached .* in \d+ of 50 / \d+ of 50 rounds", row["note"])
    r = _ok(["determinism", "--game", "hide-seek", "--model", a, "--games", "10", "--rounds", "5", "--out",
             str(tmp_path)])
    assert "no valid move" in r.output
    _ok(["report", str(tmp_path)])
    page = (tmp_path / "report.html").read_text()
    assert "<th>no valid move</th>" in page and re.search(r"\d+ of 50", page)     # rounds without a valid move


def test_the_net_score_difference_interval_stays_inside_its_bounds():
    """Net scores per game lie in [-100, 100], so B - A lies in [-200, 200]. Welch's t-interval on nine
    +100 games and a 0 against nine -100 and a 0 ran to -209.7; the bootstrap interval stays inside,
    holds the estimate, and agrees with scipy's percentile bootstrap of the same statistic."""
    from scipy import stats

    from logitscope.tasks.compare import boot_diff
    a, b = np.array([100.0] * 9 + [0.0]), np.array([-100.0] * 9 + [0.0])
    d, lo, hi = boot_diff(a, b)
    assert d == -180 and -200 <= lo <= d <= hi <= 200
    ref = stats.bootstrap((b, a), lambda x, y, axis=-1: x.mean(axis) - y.mean(axis), method="percentile",
                          n_resamples=4000, random_state=1).confidence_interval
    assert abs(lo - ref.low) <= 10 and abs(hi - ref.high) <= 10
    assert boot_diff([1.0], [2.0, 3.0]) == (1.5, None, None)
