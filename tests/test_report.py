"""`probe report` from result files of every kind (written by the probes on tiny models), a malformed
line, study references, the trade-off figure, a headless Chromium screenshot; `probe compare`."""
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from logitscope.cli.main import main
from logitscope.tasks.results import slug
from logitscope.testing import save_tiny_lm, tiny_reward_model

SECTIONS = ["answers", "paraphrases", "temperature", "sequences", "games", "reward", "entropy", "attractor",
            "diversity", "personas", "poetry"]


def _ok(args):
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, (args, r.output)
    return r


@pytest.fixture(scope="module")
def every_kind(tmp_path_factory):
    """A results directory with one run of every probe (tiny models, small samples)."""
    tmp = tmp_path_factory.mktemp("rep")
    a = str(save_tiny_lm(tmp / "a", "llama", peak=2.0, seed=5))
    b = str(save_tiny_lm(tmp / "b", "llama", peak=1.0, seed=7))
    out = str(tmp / "results")
    models = ["--model", a, "--model", b]
    _ok(["integers", *models, "--temperature", "1", "--temperature", "2", "--out", out])
    _ok(["letters", *models, "--out", out])
    _ok(["sequences", *models, "--samples", "4", "--out", out])
    _ok(["determinism", *models, "--games", "3", "--rounds", "2", "--out", out])
    _ok(["determinism", "--game", "hide-seek", "--model", a, "--games", "3", "--rounds", "2", "--out", out])
    _ok(["reward", "--rm", str(tiny_reward_model(tmp / "rm")), "--task", "integers", "--model", a, "--out", out])
    _ok(["entropy", *models, "--samples", "3", "--max-new-tokens", "5", "--out", out])
    from logitscope.tasks.creativity import attractor
    with pytest.MonkeyPatch.context() as mp:
        _attractor_fix(mp)
        rows = attractor.run_attractor([a], edits=["won=>lost"], samples=2, max_new_tokens=6, out=out)
    attractor.attractor_html(rows, out)
    _ok(["diversity", *models, "--samples", "4", "--max-new-tokens", "6", "--out", out])
    _ok(["personas", *models, "--samples", "3", "--max-new-tokens", "8", "--out", out])
    _ok(["poetry", "generate", "--model", a, "--topics", "coffee", "--per-topic", "1", "--max-attempts", "2",
         "--out", out])
    jdir = Path(out) / "poetry-judgements"
    jdir.mkdir(parents=True)
    recs = [{"pair": f"coffee|preference|{i}", "topic": "Coffee", "axis": "preference", "annotator": who,
             "left": f"{a}|Coffee|{i}", "right": f"{b}|Coffee|{i}", "choice": "left" if (i + k) % 3 else "right",
             "winner": f"{a}|Coffee|{i}" if (i + k) % 3 else f"{b}|Coffee|{i}", "control": False}
            for k, who in enumerate(("ann", "bob")) for i in range(6)]
    (jdir / "coffee-preference.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    return Path(out), a, b


def _attractor_fix(mp):
    """The tiny model's continuation is random text: give the edit a sentence and a word to find."""
    from logitscope.kernels.engine import generate as gen
    real = gen.generate

    def fake(lm, prompt, n=1, max_new_tokens=64, **kw):
        got = real(lm, prompt, n=n, max_new_tokens=max_new_tokens, **kw)
        if n == 1 and kw.get("greedy"):
            got[0].pieces = [" rock. You won. Move:", " paper"]
        return got
    mp.setattr(gen, "generate", fake)


def test_report_has_every_section_table_and_figure(every_kind, tmp_path):
    out, a, b = every_kind
    r = _ok(["report", str(out), "--out", str(tmp_path / "r.html"), "--json"])
    res = json.loads(r.output[r.output.index("{"):])
    assert res["sections"] == SECTIONS, res
    page = (tmp_path / "r.html").read_text()
    for key in SECTIONS:
        part = page.split(f"<section id='{key}'>")[1].split("</section>")[0]
        assert "<table class=" in part, key
        assert "made by (" in part and ".jsonl</a>" in part, key                # provenance with links
    for key in ("answers", "temperature", "sequences", "games", "entropy", "personas"):
        part = page.split(f"<section id='{key}'>")[1].split("</section>")[0]
        assert "src='data:image/png;base64," in part, key                       # figures embedded
    assert "http" not in re.sub(r"<a href='[^']*'", "", page) and "<script" not in page
    md = (tmp_path / "r.md").read_text()
    assert "## Games against a greedy adversary" in md and "| model |" in md
    assert all((tmp_path / "r_files").glob("*.png"))


def test_report_only_has_sections_with_results(every_kind, tmp_path):
    out, _, _ = every_kind
    shutil.copytree(out / "letters", tmp_path / "res" / "letters")
    res = json.loads(_ok(["report", str(tmp_path / "res"), "--json"]).output)
    assert res["sections"] == ["answers", "paraphrases"]


def test_malformed_lines_are_listed_and_the_rest_renders(every_kind, tmp_path):
    out, _, _ = every_kind
    shutil.copytree(out, tmp_path / "res")
    f = sorted((tmp_path / "res" / "sequences").glob("*.jsonl"))[0]
    lines = f.read_text().splitlines(keepends=True)
    lines.insert(2, "{broken\n")
    f.write_text("".join(lines) + '{"type": "unit", "ind')
    res = json.loads(_ok(["report", str(tmp_path / "res"), "--json"]).output)
    assert res["sections"][-1] == "problems" and "sequences" in res["sections"]
    assert f"{f}:3: not JSON" in " ".join(res["problems"])
    assert any("partial last line" in p for p in res["problems"])
    page = (tmp_path / "res" / "report.html").read_text()
    assert "Problems in the result files" in page and f"{f}" in page


def _section(page, key):
    return page.split(f"<section id='{key}'>")[1].split("</section>")[0]


def _rows(part, table=0):
    """Cells of the `table`-th table of a section."""
    body = part.split("<tbody>")[table + 1].split("</tbody>")[0]
    return [re.findall(r"<td>(.*?)</td>", tr) for tr in re.findall(r"<tr>(.*?)</tr>", body)]


def _as_study_model(res_dir, spec, name="llama3.1-8b"):
    for f in res_dir.rglob("*.jsonl"):
        f.write_text(f.read_text().replace(json.dumps(spec), json.dumps(name)))


def test_study_reference_and_tradeoff(every_kind, tmp_path):
    out, a, _ = every_kind
    res_dir = tmp_path / "res"
    shutil.copytree(out / "integers", res_dir / "integers")
    _as_study_model(res_dir, a)                                      # pretend a run used the study's base model
    scores = tmp_path / "scores.csv"
    scores.write_text(f"model,score,kind\nllama3.1-8b,60.1,base\n{out.parent / 'b'},70.5,aligned\n")
    _ok(["report", str(res_dir), "--scores", str(scores)])
    page = (res_dir / "report.html").read_text()
    assert "<td>Llama-3.1-8B base: 107</td>" in page and "<td>107</td><td>120</td>" in page    # its row; the block
    assert "<section id='tradeoff'>" in page and "Spearman rho" in page


def test_temperature_table_takes_each_tasks_study_figure(every_kind, tmp_path):
    """Letters rows show the study's letters figure (Table 6: 78 for Llama-3.1-8B base), not Table 4's
    integers figure (137)."""
    out, a, _ = every_kind
    res_dir = tmp_path / "res"
    for task in ("integers", "letters"):
        shutil.copytree(out / task, res_dir / task)
    _as_study_model(res_dir, a)
    _ok(["report", str(res_dir)])
    rows = _rows(_section((res_dir / "report.html").read_text(), "temperature"))
    at = [(r, r.index(next(c for c in r if c in ("integers", "letters")))) for r in rows if r[0] == "llama3.1-8b"]
    mine = {(r[i], r[i + 1]): r[-1] for r, i in at if r[i + 2] == "1"}                 # task, T: study figure
    assert mine[("letters", "1")] == "78" and mine[("integers", "1")] == "137" and mine[("integers", "2")] == "-"


def test_paraphrase_table_keeps_a_models_formats_apart(every_kind, tmp_path):
    """A model's chat and raw runs are two rows, each with its own chi-square."""
    out, a, _ = every_kind
    res_dir = tmp_path / "res"
    shutil.copytree(out / "integers", res_dir / "integers")
    raw = next((res_dir / "integers").glob(f"{slug(a)}-*.jsonl"))
    recs = [json.loads(x) for x in raw.read_text().splitlines()]
    chat = []
    for rec in recs:
        if rec["type"] == "run":
            rec = {**rec, "config": {**rec["config"], "format": "chat"}}
        elif rec["type"] == "unit":
            rec = {**rec, "chi2_sampled": rec["chi2_sampled"] + 9000}
        chat.append(json.dumps(rec))
    raw.with_name(f"{slug(a)}-chatchatch.jsonl").write_text("\n".join(chat) + "\n")
    _ok(["report", str(res_dir)])
    rows = _rows(_section((res_dir / "report.html").read_text(), "paraphrases"))
    want = next(u["chi2_sampled"] for u in recs if u["type"] == "unit" and u["temperature"] == 1.0)
    got = {r[0]: (r[1], r[2]) for r in rows if r[0].startswith(a)}               # n, paraphrase 0
    assert got == {f"{a} (raw)": ("1500", f"{want:.0f}"), f"{a} (chat)": ("1500", f"{want + 9000:.0f}")}


def test_tradeoff_kind_from_registry_format_or_scores(every_kind, tmp_path):
    """Base or aligned: the registry entry, else the kind given, else the runs' prompt format; else
    unknown (never "base" by default)."""
    out, a, b = every_kind
    res_dir = tmp_path / "res"
    shutil.copytree(out / "determinism-rps", res_dir / "determinism-rps")
    for f in (res_dir / "determinism-rps").glob(f"{slug(b)}-*.jsonl"):
        f.write_text(f.read_text().replace('"format": "raw"', '"format": "chat"'))
    scores = tmp_path / "scores.csv"
    scores.write_text(f"model,score\n{a},50\n{b},60\nembedded:aligned,40\nllama3.1-8b,45\nsomething-else,30\n")
    _ok(["report", str(res_dir), "--scores", str(scores)])
    kinds = {r[0]: r[2] for r in _rows(_section((res_dir / "report.html").read_text(), "tradeoff"), 1)}
    assert kinds == {a: "base", b: "aligned", "embedded:aligned": "aligned", "llama3.1-8b": "base",
                     "something-else": "unknown"}


def test_report_out_may_be_a_directory(every_kind, tmp_path):
    out, _, _ = every_kind
    (tmp_path / "existing").mkdir()
    for target in (tmp_path / "existing", tmp_path / "new"):
        res = json.loads(_ok(["report", str(out), "--out", str(target), "--json"]).output)
        assert res["html"] == str(target / "report.html") and (target / "report.md").exists()


def test_chromium_screenshot(every_kind, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("headless Chromium is not installed (apt-get install chromium)")
    out, _, _ = every_kind
    _ok(["report", str(out), "--out", str(tmp_path / "r.html")])
    shot = tmp_path / "shot.png"
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=1280,2000",
                    (tmp_path / "r.html").as_uri()], capture_output=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 50_000


def test_compare_prints_side_by_side_and_writes_the_report(every_kind, tmp_path):
    _, a, b = every_kind
    r = _ok(["compare", "--model", a, "--model", b, "--tasks", "integers,rps", "--quick", "--out", str(tmp_path),
             "--json"])
    res = json.loads(r.output[r.output.index("{"):])
    measures = [x["measure"] for x in res["rows"]]
    assert measures[0].startswith("integers: answer entropy") and measures[-1].startswith("rps: net score")
    rps = res["rows"][-1]
    assert rps["lo"] <= rps["diff"] <= rps["hi"] and Path(res["report"]).exists()
    bad = CliRunner().invoke(main, ["compare", "--model", a, "--tasks", "integers"])
    assert bad.exit_code == 1 and "exactly two models" in bad.output


def test_tradeoff_takes_each_models_largest_run(tmp_path):
    """Two runs of one model (40 and 6 games, other seeds): the trade-off point is the 40-game run's
    net score, whichever file sorts last."""
    from logitscope.report.collect import collect
    from logitscope.report.sections_creative import _measures
    nets = {}
    for games, seed in ((40, 3), (6, 2)):
        r = _ok(["determinism", "--game", "hide-seek", "--model", "uniform", "--games", str(games), "--seed", str(seed),
                 "--out", str(tmp_path), "--json"])
        nets[games] = json.loads(r.output[r.output.index("["):])[0]["net_score"]
    assert nets[40] != nets[6]
    assert _measures(collect(tmp_path))["net hide-seek"]["uniform"] == nets[40]
