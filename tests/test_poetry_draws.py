"""Poem draws that were miscounted or unsaid (issues 30 and 32): a run's parse rate comes from its own
draws (not the file's, after a larger run), every model's draws are said (tried, kept, why rejected),
and base models get a few-shot frame of two 4-line poems, marked ours."""
import html
import json
import re
from types import SimpleNamespace

from click.testing import CliRunner

from logitscope.cli.main import main


# 3. a run's parse rate from its own draws (issue 30.5) ----------------------------------------------------

def _scripted(monkeypatch, ok=lambda attempt: attempt % 3 == 0):
    """Generation scripted by attempt: a draw parses when `ok(attempt)`, else it has two lines."""
    import logitscope.kernels.engine.generate as gen
    from logitscope.tasks.poetry.generate import attempt_index
    base = attempt_index("Coffee", 0)

    def fake(lm, ids, indices, **kw):
        return [SimpleNamespace(text="Line one,\nline two,\nline three,\nline four." if ok(i - base)
                                else "Just one line,\nand two.") for i in indices]
    monkeypatch.setattr(gen, "generate", fake)


def _own(per_model, max_attempts, ok=lambda a: a % 3 == 0):
    """Brute force: the draws a run's poems come from, in attempt order up to its per_model-th poem."""
    kept = 0
    for a in range(max_attempts):
        kept += ok(a)
        if kept == per_model:
            return a + 1, kept
    return max_attempts, kept


def test_a_run_reports_its_own_draws_after_a_larger_run(tmp_path, monkeypatch):
    from logitscope.tasks.poetry.generate import run_generate
    from logitscope.testing import bytelevel_tokenizer, tiny_lm
    lm = tiny_lm("llama", bytelevel_tokenizer())
    _scripted(monkeypatch)
    big = run_generate([lm], topics=["Coffee"], per_model=4, out=tmp_path / "a")[0]
    small = run_generate([lm], topics=["Coffee"], per_model=2, out=tmp_path / "a")[0]
    fresh = run_generate([lm], topics=["Coffee"], per_model=2, out=tmp_path / "b")[0]
    draws, kept = _own(2, 20)
    assert big["topics"]["Coffee"]["drawn"] > draws                   # the file holds more draws
    for row in (small, fresh):
        t = row["topics"]["Coffee"]
        assert (t["attempts"], t["poems"], t["rejected"]) == (draws, kept, {"fewer than 4 lines": draws - kept})
    # the report pairs the run's poems with the run's draws (it showed the file's draws)
    r = CliRunner().invoke(main, ["report", str(tmp_path / "a"), "--out", str(tmp_path / "r.html")])
    assert r.exit_code == 0, r.output
    cells = re.findall(r"<td>(.*?)</td>", html.unescape((tmp_path / "r.html").read_text()))
    row = cells.index("Coffee")
    assert cells[row + 1: row + 4] == [str(kept), str(draws), f"{100 * kept / draws:.0f}"]


# 4. draws tried / kept / why rejected, per model, and the base-model frame (issue 32) ----------------------

def test_every_model_says_its_draws_tried_kept_and_why_rejected(tmp_path, monkeypatch):
    from logitscope.testing import save_tiny_lm
    model = save_tiny_lm(tmp_path / "m", "llama", peak=2.0, seed=3)
    _scripted(monkeypatch, ok=lambda a: a == 4)
    r = CliRunner().invoke(main, ["poetry", "generate", "--model", str(model), "--topic", "coffee", "--per-model", "1",
                                  "--max-attempts", "6", "--out", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    assert f"{model}: 5 draws tried, 1 kept (20%); rejected: fewer than 4 lines 4" in r.output
    summary = [json.loads(x) for f in (tmp_path / "out" / "poetry").glob("*.jsonl") for x in open(f)]
    summary = next(x for x in summary if x.get("type") == "summary")
    got = summary.get("data", summary)
    assert (got["attempts"], got["poems"], got["rejected"]) == (5, 1, {"fewer than 4 lines": 4})


def test_base_models_get_a_few_shot_frame_of_two_four_line_poems_marked_ours():
    from logitscope.tasks.poetry import generate as g
    prompt, stop = g.prompt_for("raw", "Coffee")
    assert stop == "\n\n" and prompt.endswith(g.FORM.format(topic="coffee"))
    examples = prompt[:-len(g.FORM.format(topic="coffee"))].strip().split("\n\n")
    poems = [e for e in examples if not e.startswith("Here is")]
    assert len(poems) == 2 and all(g.parse_poem(p)[0] is not None and len(p.splitlines()) == 4 for p in poems)
    assert not any(t.lower() in prompt[:-len(g.FORM.format(topic="coffee"))].lower() for t in g.TOPICS)
    assert "frame" in g.SOURCE and "ours" in g.SOURCE
    chat, _ = g.prompt_for("chat", "Coffee")
    assert "Here is a four-line poem about" not in chat


def test_a_draw_that_repeats_the_frame_is_not_a_poem():
    from logitscope.tasks.poetry import generate as g
    example = [ln for ln in g.FRAME.splitlines() if ln and not ln.startswith("Here is")]
    copied = "\n".join(["My own first line,", example[5].upper(), "a third line,", "and a fourth."])
    assert g.check_draw(copied, "raw") == (None, "repeats the frame's example")
    assert g.check_draw(copied, "chatml")[0] is not None                  # no frame, nothing to repeat
    own = "My own first line,\nmy second,\na third line,\nand a fourth."
    assert g.check_draw(own, "raw") == g.parse_poem(own) and g.parse_poem(own)[0] is not None


def test_report_reads_an_older_summary_at_its_files_rate(tmp_path):
    """A summary written before runs counted their own draws: 5 poems (capped), 20 in the file from 30
    draws of the file; its parse rate is 20 / 30, not 5 / 30, and the poems shown beside it are the
    file's 20 (marked), so the row reads as poems / draws."""
    d = tmp_path / "results" / "poetry"
    d.mkdir(parents=True)
    config = {"task": "poetry", "model": "m", "seed": 0}
    recs = [{"type": "run", "config": config},
            {"type": "summary", "model": "m", "run": "abc", "per_model": 5, "poems": 5, "attempts": 30,
             "topics": {"Coffee": {"poems": 5, "available": 20, "attempts": 30, "rejected": {}}}}]
    (d / "m-0123456789.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    r = CliRunner().invoke(main, ["report", str(tmp_path / "results"), "--out", str(tmp_path / "r.html")])
    assert r.exit_code == 0, r.output
    cells = re.findall(r"<td>(.*?)</td>", html.unescape((tmp_path / "r.html").read_text()))
    row = cells.index("Coffee")
    assert cells[row + 1: row + 4] == ["20*", "30", f"{100 * 20 / 30:.0f}"]
    assert "* a summary written before runs counted their own draws" in html.unescape((tmp_path / "r.html").read_text())
