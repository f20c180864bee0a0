"""What a reader sees, round 2 (issues #30.2, #30.5, #32): no study row beside answers the study never
scored, the run's own sample count, intervals inside their measure's range, small probabilities that
do not print as 0, and output that explains itself. Result files are written by the probes on the
uniform oracle (no model) or by hand where a case needs a shape no real run gives quickly; every
expected number comes from an independent computation (scipy, brute force, hand counts)."""
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from logitscope.cli.main import main
from logitscope.report.build import run_report
from logitscope.report.collect import collect


def _ok(args):
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, (args, r.output)
    return r


def _write(path: Path, config: dict, units=(), summaries=()):
    path.parent.mkdir(parents=True, exist_ok=True)
    recs = [{"type": "run", "config": config, "provenance": {}}] + [{"type": "unit", **u} for u in units] + \
        [{"type": "summary", **s} for s in summaries]
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))


def _section(page: str, key: str) -> str:
    return page.split(f"<section id='{key}'>")[1].split("</section>")[0]


def _tables(part: str) -> list[list[list[str]]]:
    """Every table of an HTML part as rows of cell texts (header row first)."""
    import html
    out = []
    for t in re.findall(r"<table.*?</table>", part, re.S):
        rows = re.findall(r"<tr>(.*?)</tr>", t, re.S)
        out.append([[html.unescape(c) for c in re.findall(r"<t[dh]>(.*?)</t[dh]>", r, re.S)] for r in rows])
    return out


def _report(res_dir: Path, tmp_path: Path) -> str:
    out = tmp_path / "rep" / "report.html"
    run_report(res_dir, out)
    return out.read_text()


# ---------------------------------------------------------------- #30.2: Table 7 is about integers only

def _reward_file(root: Path, task: str, labels: list[str]):
    rewards = {a: 4.0 + 0.1 * i for i, a in enumerate(labels)}
    summary = {"task": task, "prompt": "Pick one.", "reward_model": "tulu3-8b-rm", "rewards": rewards,
               "best": labels[-1], "models": [{"model": "m", "probs": {a: 1 / len(labels) for a in labels},
                                               "valid_mass": 1.0, "pearson": None, "spearman": None}]}
    _write(root / "reward" / f"tulu3-8b-rm-{task}.jsonl",
           {"task": "reward", "of": task, "prompt": "Pick one.", "reward_model": "tulu3-8b-rm"}, summaries=[summary])


def test_letters_reward_has_no_study_row_and_integers_keeps_table7(tmp_path):
    from logitscope.report.study import TABLE7
    letters = [chr(ord("a") + i) for i in range(11)]
    _reward_file(tmp_path / "res", "letters", letters)
    part = _section(_report(tmp_path / "res", tmp_path), "reward")
    for table in _tables(part):
        assert not any("in the study" in row[0] for row in table[1:]), table
        if table[0][1:12] == letters:                       # the letters table: no integer rewards under a-k
            assert not any(f"{x:.2f}" in row for row in table for x in TABLE7["tulu3-8b-rm"])
    assert "no per-letter reward" in part
    # the integers run of the same reward model still gets the study's row, under the integers
    _reward_file(tmp_path / "res2", "integers", [str(i) for i in range(11)])
    part = _section(_report(tmp_path / "res2", tmp_path / "b"), "reward")
    study_rows = [row for t in _tables(part) for row in t if "in the study" in row[0]]
    assert study_rows and study_rows[0][1:12] == [f"{x:.2f}" for x in TABLE7["tulu3-8b-rm"]]


# ---------------------------------------------------------------- #30.5: the run's own sample count

def test_paraphrase_and_answer_tables_say_the_runs_samples(tmp_path):
    res = tmp_path / "res"
    _ok(["integers", "--model", "uniform", "--samples", "200", "--out", str(res)])
    _ok(["letters", "--model", "uniform", "--samples", "300", "--out", str(res)])
    page = _report(res, tmp_path)
    for key in ("answers", "paraphrases"):
        part = _section(page, key)
        ours = part.split("published, West")[0]             # the study's own block below says its 1500
        assert "1500 valid samples" not in ours, key
    para = _section(page, "paraphrases")
    assert "200 valid samples" in para and "300 valid samples" in para
    # the answers table names each run's n beside its chi-squares
    table = _tables(_section(page, "answers"))[0]
    n_col = table[0].index("n")
    assert sorted({row[n_col] for row in table[1:]}) == ["200", "300"]


# ---------------------------------------------------------------- #32: net score CI inside [-100, 100]

def _games(nets_outcomes: list[list[str]]) -> list[dict]:
    return [{"game": i, "outcomes": o, "probs": [[0.5, 0.3, 0.2]] * len(o), "valid_mass": [1.0] * len(o),
             "invalid_mass": [0.0] * len(o), "unexplored_mass": [0.0] * len(o)} for i, o in enumerate(nets_outcomes)]


NEAR_FLOOR = [["loss"] * 4] * 9 + [["win", "loss", "tie", "tie"]]   # nets: -100 x 9, 0: a t-interval reaches -112.6


def test_net_score_ci_is_a_bootstrap_inside_the_scores_bounds():
    from scipy import stats

    from logitscope.probes.determinism import net_scores, summarise
    recs = _games(NEAR_FLOOR)
    nets = net_scores(recs)
    assert list(nets) == [-100.0] * 9 + [0.0]                         # by hand
    t_lo = nets.mean() - stats.t.ppf(0.975, 9) * nets.std(ddof=1) / math.sqrt(10)
    assert t_lo < -100                                                  # what the t-interval printed
    row = summarise(recs)
    lo, hi = row["net_score_ci95"]
    assert -100 <= lo <= row["net_score"] <= hi <= 100
    assert lo >= nets.min() and hi <= nets.max()
    ref = stats.bootstrap((nets,), np.mean, method="percentile", n_resamples=20000, random_state=1).confidence_interval
    assert abs(lo - ref.low) <= 5 and abs(hi - ref.high) <= 5        # scipy's percentile bootstrap, its own draws
    assert "bootstrap" in row["net_score_ci_method"]
    assert summarise(recs)["net_score_ci95"] == [lo, hi]                # seeded: the same every time


def test_determinism_table_prints_the_bootstrap_ci_and_says_which(tmp_path, monkeypatch):
    from logitscope.probes.determinism import summarise
    from logitscope.tasks.games import determinism as det
    row = {"model": "m", "game": "rps", "adversary": "exact", **summarise(_games(NEAR_FLOOR))}
    monkeypatch.setattr(det, "run_determinism", lambda *a, **k: [row])
    out = _ok(["determinism", "--model", "m", "--games", "10", "--rounds", "4", "--out", str(tmp_path)]).output
    line = next(x for x in out.splitlines() if x.startswith("m "))
    lo, hi = (float(x) for x in re.search(r"-90\.0 \[([-+\d.]+), ([-+\d.]+)\]", line).groups())
    assert -100 <= lo <= hi <= 100
    assert "percentile bootstrap over games" in out


def test_report_net_ci_from_the_games_not_an_old_t_interval(tmp_path):
    """A summary an earlier version wrote (t-interval past -100): the report recomputes the interval
    from the file's games and says which interval it shows."""
    from logitscope.probes.determinism import net_scores, summarise
    recs = _games(NEAR_FLOOR)
    old = {"model": "m", "game": "rps", "adversary": "exact", **summarise(recs), "net_score_ci95": [-112.6, -67.4]}
    old.pop("net_score_ci_method", None)
    _write(tmp_path / "res" / "determinism-rps" / "m-1.jsonl",
           {"task": "determinism", "game": "rps", "rounds": 4, "model": "m", "format": "raw"}, recs, [old])
    part = _section(_report(tmp_path / "res", tmp_path), "games")
    table = _tables(part)[0]
    cell = table[1][table[0].index("net (95% CI)")]
    lo, hi = (float(x) for x in re.findall(r"\[([-+\d.]+),\s([-+\d.]+)\]", cell)[0])
    assert -100 <= lo <= hi <= 100 and lo >= net_scores(recs).min()
    assert "percentile bootstrap over games" in part


# ---------------------------------------------------------------- #32: entropy bands inside [0, log2 5]

def test_entropy_band_by_position_stays_in_the_measures_range():
    from scipy import stats

    from logitscope.probes.tokens import by_position
    top = math.log2(5)
    low = [[0.0, top]] * 7 + [[2.0, top]]          # position 1: one text at 2 bits; position 2 all at the top
    x = np.array([s[0] for s in low])
    t_lo = x.mean() - stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
    assert t_lo < 0                                  # what the t-band drew
    band = by_position(low)
    for lo, m, hi in zip(band["lo"], band["mean"], band["hi"]):
        assert 0 <= lo <= m <= hi <= top + 1e-12
    ref = stats.bootstrap((x,), np.mean, method="percentile", n_resamples=20000, random_state=1).confidence_interval
    assert abs(band["lo"][0] - ref.low) <= 0.1 and abs(band["hi"][0] - ref.high) <= 0.15
    assert band["hi"][1] == pytest.approx(top) and band["lo"][1] == pytest.approx(top)


def _entropy_file(root: Path, top5: list[list[float]], old: bool):
    from logitscope.probes.tokens import entropy_summary
    recs = [{"index": i, "text": "x", "finish": "length", "entropy_bits": [3 * v for v in s], "top5_entropy_bits": s}
            for i, s in enumerate(top5)]
    summ = {"model": "m", "format": "raw", "prompt": "p", "temperature": 1.0, "top_p": 1.0, "seed": 0,
            **entropy_summary(recs)}
    if old:                                          # what an earlier version wrote: a t-band per position
        for key in ("top5_by_position", "entropy_by_position"):
            summ[key]["lo"] = [m - 1.0 for m in summ[key]["mean"]]
            summ[key]["hi"] = [m + 1.0 for m in summ[key]["mean"]]
        summ.pop("band", None)
    _write(root / "entropy" / "m-1.jsonl", {"task": "entropy", "model": "m", "format": "raw", "max_new_tokens": 2},
           recs, [summ])


def test_report_entropy_bands_inside_the_range_and_said(tmp_path, monkeypatch):
    from logitscope.report import plots
    seen = []
    real = plots.entropy_figure
    monkeypatch.setattr(plots, "entropy_figure", lambda rows, *a, **k: seen.append(rows) or real(rows, *a, **k))
    _entropy_file(tmp_path / "res", [[0.0, 2.3], [0.0, 2.32], [0.01, 1.0]], old=True)
    part = _section(_report(tmp_path / "res", tmp_path), "entropy")
    (row,) = seen[0]
    for key, top in (("top5_by_position", math.log2(5)), ("entropy_by_position", 3 * 2.32)):
        for lo, hi in zip(row[key]["lo"], row[key]["hi"]):
            assert lo != lo or 0 <= lo <= hi <= top + 1e-9, (key, lo, hi)
    assert "percentile bootstrap" in part.split("<figcaption>")[1].split("</figcaption>")[0]


def test_entropy_png_says_its_band(tmp_path):
    """`probe entropy`'s PNG states which band it draws (the figure itself, not only the report)."""
    from logitscope.probes.tokens import entropy_summary
    from logitscope.report.plots import entropy_figure
    recs = [{"index": i, "entropy_bits": [1.0, 2.0], "top5_entropy_bits": [0.1 * i, 1.0]} for i in range(3)]
    fig = entropy_figure([{"model": "m", **entropy_summary(recs)}], "t")
    texts = [t.get_text() for t in fig.texts] + [a.get_title() for a in fig.axes]
    assert any("bootstrap" in t for t in texts), texts


# ---------------------------------------------------------------- #32: small probabilities are not 0

def test_prob_format():
    from logitscope.report.numbers import prob
    assert prob(0.0) == "0"
    assert prob(0.25) == "0.250"
    assert prob(3e-7) == "3.0e-07"
    assert prob(0.0004, 3) == "4.0e-04"
    assert prob(0.0004, 4) == "0.0004"
    assert float(prob(1.23456e-9)) == pytest.approx(1.2e-9)
    assert prob(None) == "-"


def test_tiny_probabilities_in_the_integers_and_reward_tables(tmp_path, monkeypatch):
    from logitscope.tasks.randomness import single
    probs = {str(i): (1 - 10 * 2e-6) if i == 7 else 2e-6 for i in range(11)}
    row = {"model": "m", "paraphrase": 0, "temperature": 1.0, "top_p": 1.0, "probs": probs, "valid_mass": 3e-5,
           "entropy_bits": 0.5, "chi2_expected": 1.0, "chi2_sampled": 1.0, "p_value": 0.5, "mode": "7"}
    monkeypatch.setattr(single, "run_single", lambda *a, **k: [row])
    out = _ok(["integers", "--model", "m", "--out", str(tmp_path)]).output
    line = next(x for x in out.splitlines() if x.startswith("m "))
    cells = line.split()
    assert "0.000" not in cells and cells.count("2.0e-06") == 10 and "3.0e-05" in cells, line
    _reward_file(tmp_path / "res", "integers", [str(i) for i in range(11)])
    f = next((tmp_path / "res" / "reward").glob("*.jsonl"))
    lines = f.read_text().splitlines()
    summ = json.loads(lines[-1])
    summ["models"][0]["probs"] = probs
    f.write_text("\n".join(lines[:-1] + [json.dumps(summ)]) + "\n")
    part = _section(_report(tmp_path / "res", tmp_path), "reward")
    prow = next(r for t in _tables(part) for r in t if r[0].startswith("P | valid"))
    assert "0.000" not in prow and prow.count("2.0e-06") == 10, prow


def test_tiny_probabilities_in_probe_dist(monkeypatch):
    from logitscope.tasks.randomness import dist
    out = {"model": "m", "format": "raw", "prompt_text": "p", "method": "exact",
           "top": [{"token_id": 1, "token": "a", "prob": 0.99996}, {"token_id": 2, "token": "b", "prob": 4e-5}],
           "mass_below": 1e-9, "entropy_bits": 0.001, "top5_entropy_bits": 0.001,
           "answers": {"x": 3e-7, "y": 0.5}, "renormalised": {"x": 6e-7, "y": 1.0}, "valid_mass": 0.5000003,
           "invalid_mass": 0.4999997, "unexplored_mass": 0.0, "forwards": 2}
    monkeypatch.setattr(dist, "run_dist", lambda *a, **k: out)
    text = _ok(["dist", "--model", "m", "--prompt", "p", "--answers", "0-10"]).output
    assert re.search(r"\b0\.0000\b|\b0\.00000\b", text) is None, text
    assert "4.0e-05" in text and "3.0e-07" in text and "6.0e-07" in text and "1.0e-09" in text


def test_tiny_invalid_mass_in_the_determinism_table():
    from logitscope.cli.games import determinism_table
    from logitscope.probes.determinism import summarise
    recs = _games([["win", "loss"], ["tie", "tie"]])
    for r in recs:
        r["invalid_mass"] = [2e-6, 2e-6]
    text = determinism_table([{"model": "m", **summarise(recs)}])
    assert "0.0000" not in text and "2.0e-04" in text, text         # invalid % (2e-6 of the mass)


# ---------------------------------------------------------------- #32: output that explains itself

def test_attractor_unmatched_edit_says_what_it_means(tmp_path, monkeypatch):
    from logitscope.tasks.creativity import attractor
    row = {"model": "m", "format": "raw", "prompt": "Grace Hopper was", "original": "a text without it.",
           "edits": [{"edit": "was=>was not", "matched": False}], "records": [], "original_record": {}}
    monkeypatch.setattr(attractor, "run_attractor", lambda *a, **k: [row])
    monkeypatch.setattr(attractor, "attractor_html", lambda *a, **k: tmp_path / "a.html")
    out = _ok(["attractor", "--model", "m", "--out", str(tmp_path)]).output
    line = next(x for x in out.splitlines() if x.startswith("m ") and "was=>was not" in x)
    assert "not found" in line and "'was'" in out.split(line)[1]
    assert "no match" not in line
    # the report says the same
    _write(tmp_path / "res" / "attractor" / "m-1.jsonl", {"task": "attractor", "model": "m", "format": "raw"},
           summaries=[{k: v for k, v in row.items() if k not in ("records", "original_record")}])
    part = _section(_report(tmp_path / "res", tmp_path), "attractor")
    trow = _tables(part)[0][1]
    assert "no match" not in trow and any("not found" in c for c in trow), trow
    import html
    assert "'was' does not occur" in html.unescape(part)


def test_personas_columns_named_apart_and_missing_ages_in_words(tmp_path, monkeypatch):
    from logitscope.report import persona_plots
    from logitscope.tasks.creativity import personas
    fields = {f: {"entropy_bits": 1.0, "unique": 2, "top": [["x", 2]]}
              for f in ("first_name", "last_name", "gender", "age", "nationality", "ethnicity", "mbti")}
    fields["age"] = {"entropy_bits": None, "unique": 0, "top": []}
    row = {"model": "m", "framing": "raw", "samples": 3, "unparseable": 0, "fields": fields, "age_mean": None,
           "age_sd": None, "mbti_types": 2, "review_words_mean": 10.0, "vader_mean": 0.5,
           "missing": {"age": 3}, "invalid": {}, "results": str(tmp_path / "personas" / "m-1.jsonl")}
    (tmp_path / "personas").mkdir()
    monkeypatch.setattr(personas, "run_personas", lambda *a, **k: [row])
    monkeypatch.setattr(personas, "review_map", lambda *a, **k: "no map")
    monkeypatch.setattr(persona_plots, "persona_panels", lambda *a, **k: "no panels")
    monkeypatch.setattr(persona_plots, "name_clouds", lambda *a, **k: "no clouds")
    out = _ok(["personas", "--model", "m", "--samples", "3", "--out", str(tmp_path)]).output
    lines = out.splitlines()
    head = next(x for x in lines if x.startswith("model"))
    cols = re.split(r"\s{2,}", head.strip())
    assert len(cols) == len(set(cols)), cols
    assert "- +- -" not in out
    mrow = next(x for x in lines if x.startswith("m "))
    assert "no ages" in mrow, mrow


def test_uniform_oracle_is_named_and_games_figure_titled_in_the_terminals_order(tmp_path, monkeypatch):
    from logitscope.cli.games import determinism_table
    from logitscope.report import page
    res = tmp_path / "res"
    _ok(["integers", "--model", "uniform", "--samples", "50", "--out", str(res)])
    _ok(["determinism", "--model", "uniform", "--games", "3", "--rounds", "3", "--out", str(res)])
    figs = {}
    real = page.Section.figure

    def keep(self, fig, caption, name):
        if not isinstance(fig, (str, Path)):
            ax = fig.axes[0]
            figs[name] = (fig._suptitle.get_text() if fig._suptitle else "") + ax.get_title(), \
                [t.get_text() for t in ax.get_xticklabels()]
        return real(self, fig, caption, name)
    monkeypatch.setattr(page.Section, "figure", keep)
    html_ = _report(res, tmp_path)
    assert "uniform (?" not in html_ and "uniform (oracle" in html_
    for key in ("answers", "games"):
        t = _tables(_section(html_, key))[0]
        assert {r[t[0].index("format")] for r in t[1:] if r[t[0].index("model")] == "uniform"} == {"oracle"}, t
    title, ticks = figs["games-determinism"]
    assert title.strip()
    terminal = [h for h in re.split(r"\s{2,}", determinism_table(
        [json.loads(x) for x in next((res / "determinism-rps").glob("*.jsonl")).read_text().splitlines()
         if '"summary"' in x][-1:]).splitlines()[0].strip()) if h.startswith("after")]
    assert [t.replace("after a ", "") for t in ticks] == [t.split()[1] for t in terminal], (ticks, terminal)
    rates = [h for h in re.split(r"\s{2,}", determinism_table([]).splitlines()[0].strip()) if h.endswith(" %")]
    assert [h.split()[0] for h in rates][:3] == [t.replace("after a ", "") for t in ticks]


def test_report_figures_inline_and_the_folder_said(tmp_path):
    res = tmp_path / "res"
    _ok(["integers", "--model", "uniform", "--samples", "50", "--out", str(res)])
    out = _ok(["report", str(res), "--out", str(tmp_path / "r" / "report.html")]).output
    html_ = (tmp_path / "r" / "report.html").read_text()
    srcs = re.findall(r"<img[^>]*src='([^']*)'", html_)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert (tmp_path / "r" / "report_files").is_dir()
    assert "report_files" in out and "markdown" in out.split("report_files")[0].splitlines()[-1] + out
    assert "report_files" in html_                                   # the page says what the folder beside it is


def test_links_from_the_report_resolve(tmp_path):
    """Token pages and result files linked from a report written elsewhere open from the report's folder."""
    from logitscope.testing import save_tiny_lm
    a = str(save_tiny_lm(tmp_path / "a", "llama", peak=2.0, seed=5))
    res = tmp_path / "res"
    _ok(["entropy", "--model", a, "--samples", "2", "--max-new-tokens", "3", "--out", str(res)])
    out = tmp_path / "elsewhere" / "deep" / "report.html"
    run_report(res, out)
    hrefs = [h for h in re.findall(r"href='([^']*)'", out.read_text()) if not h.startswith("#")]
    pages = [h for h in hrefs if h.endswith(".tokens.html")]
    assert pages, hrefs
    for h in hrefs:
        assert (out.parent / h).resolve().is_file(), h
    assert collect(res).of("entropy")


def test_tiny_repeat_mse_in_the_sequences_table(tmp_path):
    """An MSE of shares far below 1e-4 (a near-uniform model over many sequences) is not printed as 0.0000."""
    res = tmp_path / "res"
    _ok(["sequences", "--model", "uniform", "--samples", "5", "--out", str(res)])
    f = next((res / "sequences").glob("*.jsonl"))
    recs = [json.loads(x) for x in f.read_text().splitlines()]
    recs[-1]["repeat_mse_vs_uniform"] = 3e-6
    f.write_text("".join(json.dumps(r) + "\n" for r in recs))
    t = _tables(_section(_report(res, tmp_path), "sequences"))[0]
    assert t[1][t[0].index("MSE vs uniform")] == "3.0e-06", t


def test_prob_never_prints_only_zeros_at_any_precision():
    """At 6 and 7 decimals a probability just below the rounding point printed as 0.000000; every
    value either shows a non-zero digit or goes to scientific notation."""
    from logitscope.report.numbers import prob
    assert prob(5e-7, 6) == "5.0e-07" and prob(5e-8, 7) == "5.0e-08" and prob(4.9e-4, 3) == "4.9e-04"
    for digits in range(1, 9):
        for p in (10.0 ** -digits * f for f in (0.49, 0.5, 0.51, 0.999, 1.0, 1.5)):
            s = prob(p, digits)
            assert "e" in s or s.strip("0.") != "", (p, digits, s)
            assert float(s) == pytest.approx(p, rel=1.0)
    assert prob(0.0) == "0" and prob(None) == "-" and prob(0.25) == "0.250"
