"""Appending JSON lines: a torn last line is repaired before the next record (never glued onto
it), every record is one whole line written at once, and `--wait` says who it waits for."""
import json
import subprocess
import sys
import time

import pytest

from logitscope import jsonl
from logitscope.tasks import results
from logitscope.tasks.games.play import run_model
from logitscope.tasks.games.rules import get_game
from logitscope.tasks.poetry.contest import append_judgement

UNIFORM = results.as_lm("uniform")


def _games(recs):
    return [{k: v for k, v in r.items() if k != "type"} for r in recs]


def _lines(path):
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def test_a_file_cut_inside_a_unit_record_resumes_with_every_game(tmp_path, capsys):
    """The issue's case: cut in the middle of a unit record, rerun: before, the rerun's first record
    was glued onto the partial line and that game was lost until a third run."""
    g = get_game("rps")
    want, rf = run_model(UNIFORM, g, games=10, rounds=3, seed=0, out=tmp_path)
    text = rf.path.read_text(encoding="utf-8")
    fifth = text.index('{"type": "unit", "game": 5')
    rf.path.write_text(text[:fifth + 100], encoding="utf-8")
    got, _ = run_model(UNIFORM, g, games=10, rounds=3, seed=0, out=tmp_path)
    assert _games(got) == _games(want)
    err = capsys.readouterr().err
    assert err.count("repaired") == 1 and "moved those 100 bytes" in err
    recs = _lines(rf.path)                                    # every line is whole JSON
    units = [r["game"] for r in recs if r["type"] == "unit"]
    assert sorted(units) == list(range(10)) and len(units) == 10
    assert rf.path.with_name(rf.path.name + ".torn").read_text(encoding="utf-8") == text[fifth:fifth + 100] + "\n"


def test_a_file_cut_inside_its_header_gets_a_header_again(tmp_path):
    g = get_game("rps")
    want, rf = run_model(UNIFORM, g, games=3, rounds=2, seed=0, out=tmp_path)
    rf.path.write_bytes(rf.path.read_bytes()[:30])
    got, _ = run_model(UNIFORM, g, games=3, rounds=2, seed=0, out=tmp_path)
    assert _games(got) == _games(want)
    assert [r["type"] for r in _lines(rf.path)][:1] == ["run"]


@pytest.mark.parametrize("content, kept, aside", [
    (b'{"a": 1}\n{"b": 2', b'{"a": 1}\n', b'{"b": 2\n'),           # torn: moved aside
    (b'{"a": 1}\n{"b": 2}', b'{"a": 1}\n{"b": 2}\n', None),         # whole, without its newline
    (b'{"a": "\xc3', b'', b'{"a": "\xc3\n'),                         # cut inside a UTF-8 character
    (b'{"a": 1}\n', b'{"a": 1}\n', None),
    (b'', b'', None),
])
def test_repair(tmp_path, content, kept, aside):
    path = tmp_path / "f.jsonl"
    path.write_bytes(content)
    jsonl.repair(path)
    assert path.read_bytes() == kept
    torn = tmp_path / "f.jsonl.torn"
    assert (torn.read_bytes() if torn.exists() else None) == aside


def test_a_repair_reads_only_the_last_line(tmp_path):
    path = tmp_path / "f.jsonl"
    path.write_bytes(b'{"a": 1}\n' * 20000 + b'{"x": "' + b"y" * 200000)      # a last line longer than a block
    assert jsonl.repair(path) == 200007
    assert path.read_bytes() == b'{"a": 1}\n' * 20000


def test_records_are_written_in_one_write(tmp_path, monkeypatch):
    calls = []
    real = jsonl.os.write
    monkeypatch.setattr(jsonl.os, "write", lambda fd, data: calls.append(len(data)) or real(fd, data))
    path = tmp_path / "f.jsonl"
    with jsonl.open_append(path) as fh:
        jsonl.write_lines(fh, [{"type": "unit", "i": i, "text": "é" * 5000} for i in range(4)])
    assert len(calls) == 1
    assert [r["i"] for r in _lines(path)] == [0, 1, 2, 3]


def test_a_judgement_after_a_torn_line_is_a_line_of_its_own(tmp_path):
    path = tmp_path / "j.jsonl"
    path.write_text('{"pair": "a|b", "choice": "left"}\n{"pair": "c|', encoding="utf-8")
    start = append_judgement(path, {"pair": "e|f", "choice": "right"})
    assert [r["pair"] for r in _lines(path)] == ["a|b", "e|f"]
    assert start == len('{"pair": "a|b", "choice": "left"}\n')


def test_wait_says_once_who_holds_the_file(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(results, "WAIT", True)
    rf = results.ResultFile(tmp_path, "t", "m", {"x": 1})
    rf.dir.mkdir(parents=True)
    (rf.dir / (rf.path.name + ".owner")).write_text("process 4242 on elsewhere since 12:00:00\n")
    hold = "import filelock, sys, time; k = filelock.FileLock(sys.argv[1]); k.acquire(); print('held', flush=True); time.sleep(1)"
    other = subprocess.Popen([sys.executable, "-c", hold, str(rf.path) + ".lock"], stdout=subprocess.PIPE, text=True)
    assert other.stdout.readline() == "held\n"
    t0 = time.monotonic()
    rf.lock()                                              # returns once the other process lets go
    try:
        assert time.monotonic() - t0 > 0.5
        err = capsys.readouterr().err
        assert err.count("waiting") == 1 and "process 4242 on elsewhere" in err and str(rf.path) in err
    finally:
        rf.release()
        other.wait()


TEXT = "Café, naïve — Ωmega 😀 and a line\u2028separator\u0085next"


def _text_run(tmp_path, n=4):
    """A result file of text records (non-ASCII, U+2028 and U+0085 inside), the way entropy writes them."""
    rf = results.ResultFile(tmp_path, "entropy", "m", {"task": "entropy"})
    rf.done("sample")
    fh = rf.open({"provenance": {}})
    results.append(fh, [{"sample": i, "text": f"{i}: {TEXT}"} for i in range(n)])
    fh.close()
    rf.release()
    return rf


def test_a_line_cut_inside_a_character_is_one_torn_line_for_every_reader(tmp_path, capsys):
    """Cut at every byte of the last record (inside multi-byte characters too): resume, the report, the
    generic reader and the repair each read the whole records and none raises (a strict UTF-8 read of the
    whole file failed before the repair could run, on every rerun)."""
    from logitscope.report.collect import collect
    rf = _text_run(tmp_path)
    data = rf.path.read_bytes()
    last = data.rindex(b'{"type": "unit", "sample": 3')
    for cut in range(last + 1, len(data) - 1):
        rf.path.write_bytes(data[:cut])
        assert sorted(rf.done("sample")) == [0, 1, 2], cut
        assert [r["sample"] for r in results.jsonl_records(rf.path) if r.get("type") == "unit"] == [0, 1, 2]
        got = collect(tmp_path)
        assert [u["sample"] for u in got.runs[0].units] == [0, 1, 2]
        assert got.problems == [(rf.path, 5, "partial last line (a run was stopped while writing)")]
        fh = rf.open({})                                              # the repair: the partial line moved aside
        results.append(fh, [{"sample": 3, "text": f"3: {TEXT}"}])
        fh.close()
        rf.release()
        assert [ln.rec["sample"] for ln in jsonl.read_lines(rf.path) if ln.rec.get("type") == "unit"] == [0, 1, 2, 3]
        rf.path.with_name(rf.path.name + ".torn").unlink()
    capsys.readouterr()


def test_a_record_holding_a_line_separator_is_one_record_everywhere(tmp_path):
    """U+2028 and U+0085 are written raw (ensure_ascii=False); readers split lines at \\n only, so the
    report and the poetry readers see the record that resume counts (str.splitlines split it in two)."""
    from logitscope.probes.poetry_files import read_judgements
    from logitscope.report.collect import collect
    rf = _text_run(tmp_path)
    assert sorted(rf.done("sample")) == [0, 1, 2, 3]
    got = collect(tmp_path)
    assert [u["sample"] for u in got.runs[0].units] == [0, 1, 2, 3] and got.problems == []
    assert got.runs[0].units[1]["text"] == f"1: {TEXT}"
    j = {"pair": "a/b", "topic": "tea", "axis": "preference", "annotator": "me", "left": "A|tea|0",
         "right": "B|tea|0", "choice": "left", "winner": "A|tea|0", "control": False, "note": TEXT}
    path = tmp_path / "poetry-judgements" / "tea-preference-me.jsonl"
    path.parent.mkdir()
    path.write_text(json.dumps(j, ensure_ascii=False) + "\n", encoding="utf-8")
    recs, problems = read_judgements([path])
    assert problems == [] and [r["note"] for r in recs] == [TEXT]


def test_a_unit_line_without_its_key_is_no_unit(tmp_path):
    rf = _text_run(tmp_path, n=2)
    with open(rf.path, "a", encoding="utf-8") as fh:
        fh.write('{"type": "unit"}\n')                                 # a hand edit
    assert sorted(rf.done("sample")) == [0, 1]
    rf.release()


def test_reward_outputs_have_one_writer(tmp_path):
    """Two runs scoring into the same output: the second stops with one line naming the first (both
    appended every record before: 10 records for 5 input lines)."""
    out = tmp_path / "scores.rewards.jsonl"
    inp = tmp_path / "in.jsonl"
    inp.write_text('{"prompt": "p", "response": "r"}\n', encoding="utf-8")
    code = ("from logitscope.tasks.randomness.reward import score_file\n"
            "class RM: spec = 'rm'\n"
            f"score_file(RM(), {str(inp)!r}, {str(out)!r})")
    results.hold(out)
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    finally:
        results.release(out)
    assert done.returncode != 0 and "is being written by process" in done.stderr, done.stderr
    assert not out.exists()
