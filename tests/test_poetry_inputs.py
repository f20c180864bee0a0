"""What the poetry commands read and how they count (issue 35.5, 35.9, 35.13): a directory is read in the
layout the commands write (its own files, never folders below it or files of another kind), a directory
with none is one line, a torn file one warning; the ranking figure goes beside the judgements; --import
of a directory says so; 'pairs' never counts the control pair, which is counted apart."""
import json
import re

from click.testing import CliRunner
from test_poetry import _poems_dir

from logitscope.cli.main import main
from logitscope.probes.ranking import judge_bias
from logitscope.tasks.poetry.contest import load_poems
from logitscope.tasks.poetry.rank import read_rewards


def _games(a, b, a_wins, b_wins, who="ann"):
    return [{"pair": f"{a}{b}{k}", "topic": "Coffee", "axis": "preference", "annotator": who,
             "left": f"{a}|Coffee|{k}#r", "right": f"{b}|Coffee|{k}#r", "choice": "left" if k < a_wins else "right",
             "winner": f"{a}|Coffee|{k}#r" if k < a_wins else f"{b}|Coffee|{k}#r", "control": False}
            for k in range(a_wins + b_wins)]


def _write(path, lines):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return path


def _crowded(tmp_path):
    """A /tmp-like directory: one judgement file of its own, another run's judgements in a folder below,
    and many JSON-lines files of other kinds."""
    d = tmp_path / "tmp"
    _write(d / "coffee-preference-ann.jsonl", _games("A", "B", 12, 1))
    _write(d / "pytest-of-x" / "run3" / "poetry-judgements" / "coffee-preference-bob.jsonl",
           _games("Z", "B", 0, 13, who="bob"))
    for k in range(5):
        _write(d / f"cache{k}" / "events.jsonl", [{"event": i} for i in range(40)])
        _write(d / f"log{k}.jsonl", ["not json"] * 40)
    return d


def test_rank_reads_only_the_judgement_files_of_its_directory(tmp_path, monkeypatch):
    """It read every *.jsonl below the directory (other runs' judgements ranked with the user's, a
    'skipped' line for each of 400 other lines) and wrote results/poetry-judgements/ranking.png."""
    monkeypatch.chdir(tmp_path)
    d = _crowded(tmp_path)
    r = CliRunner().invoke(main, ["poetry", "rank", "--judgements", str(d)])
    assert r.exit_code == 0, r.output
    assert r.output.startswith("13 judgements from 1 file\n")
    assert "bob" not in r.output and " Z " not in r.output and "skipped" not in r.output and "warning" not in r.output
    assert (d / "ranking.png").is_file() and f"figure: {d / 'ranking.png'}" in r.output
    assert not (tmp_path / "results").exists()
    r = CliRunner().invoke(main, ["poetry", "rank", "--judgements", str(d / "coffee-preference-ann.jsonl"),
                                  "--out", str(tmp_path / "elsewhere")])
    assert (tmp_path / "elsewhere" / "poetry-judgements" / "ranking.png").is_file()      # --out, when given


def test_a_directory_without_judgement_files_is_one_line(tmp_path):
    d = _crowded(tmp_path)
    (d / "coffee-preference-ann.jsonl").unlink()
    r = CliRunner().invoke(main, ["poetry", "rank", "--judgements", str(d)])
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert r.output.strip().splitlines() == [f"error: no judgements files in {d} (files named "
                                             "<topic>-<axis>-<annotator>.jsonl, as `probe poetry contest` and "
                                             "`judge` write them)"]


def test_a_torn_judgement_file_is_one_warning(tmp_path):
    """A run stopped mid-write, with two stray lines before: one warning for the file, its judgements used."""
    good = _games("A", "B", 12, 1)
    f = _write(tmp_path / "j" / "coffee-preference-ann.jsonl",
               good[:5] + ["{oops", {"pair": "x"}] + good[5:] + ['{"pair": "A', ""])
    f.write_text(f.read_text().rstrip("\n"))                                        # the last line, cut
    r = CliRunner().invoke(main, ["poetry", "rank", "--judgements", str(f.parent)])
    assert r.exit_code == 0, r.output
    warnings = [ln for ln in r.output.splitlines() if ln.startswith("warning")]
    assert warnings == [f"warning: {f}: 3 of 16 lines are not judgements, skipped (first at line 6: not JSON "
                        "(Expecting property name enclosed in double quotes))"]
    assert "13 judgements" in r.output


def _rewards_file(path, rm, reward):
    return _write(path, [{"type": "unit", "kind": "reward", "poem_id": f"A|Coffee|{k}", "reward": reward, "rm": rm}
                         for k in range(3)])


def test_rewards_and_poems_are_read_from_the_directory_not_below(tmp_path):
    d = tmp_path / "poetry"
    _rewards_file(d / "A-0123456789.jsonl", "rm1", 1.0)
    _rewards_file(d / "old" / "A-abcdef0123.jsonl", "rm-old", 2.0)                # another run's folder
    _rewards_file(d / "scores.jsonl", "rm-stray", 3.0)                             # not a poetry result file
    got = read_rewards([d])                                                        # read rm-old and rm-stray too
    assert sorted(got) == ["rm1"] and got["rm1"] == {f"A|Coffee|{k}#0123456789": 1.0 for k in range(3)}
    assert sorted(read_rewards([tmp_path])) == ["rm1"]                             # a results directory
    with open(d / "A-0123456789.jsonl", "a") as fh:
        fh.write('{"type": "unit", "kind": "rew')                                   # torn: one problem
    problems = []
    assert read_rewards([d], problems) == got and len(problems) == 1
    poems = _poems_dir(tmp_path / "p")
    n = len(load_poems(poems))
    stray = next((poems / "poetry").glob("*.jsonl"))
    (poems / "poetry" / "old").mkdir()
    _write(poems / "poetry" / "old" / stray.name.replace(stray.name[-16:-6], "fedcba9876"),
           [x.replace("|Coffee|", "|Tea|") for x in stray.read_text().splitlines()])
    assert len(load_poems(poems)) == n and "Tea" not in {p["topic"] for p in load_poems(poems).values()}


def test_import_of_a_directory_says_so(tmp_path):
    poems = _poems_dir(tmp_path)
    r = CliRunner().invoke(main, ["poetry", "contest", "--poems", str(poems), "--topic", "coffee", "--axis",
                                  "preference", "--import", str(tmp_path)])
    assert r.exit_code == 1
    assert r.output.strip() == (f"error: {tmp_path} is a directory, not a file (--import takes a CSV made by "
                                "--export, filled in)")


def test_pairs_never_count_the_control_pair(tmp_path, monkeypatch):
    """The judge's 'pairs' counted its control pair (5 for 4 comparisons), its P(first) and the report's
    'pairs' did not (4): one meaning, the control counted apart."""
    from logitscope.tasks.poetry import judge as J
    from logitscope.tasks.poetry.contest import judgement

    def fake_pairs(lm, pairs, texts, topic, axis, **kw):
        return [judgement(p, "left", topic=topic, axis=axis, annotator="judge:m", p_left=0.8, p_left_first=0.8,
                          p_left_second=0.8) for p in pairs]
    monkeypatch.setattr(J, "judge_pairs", fake_pairs)
    monkeypatch.setattr("logitscope.tasks.results.as_lm", lambda spec, load=None: type("LM", (), {"spec": "m"})())
    monkeypatch.setattr(J, "judge_settings", lambda lm, min_mass: {"judge": "m"})
    rows = J.run_judge(_poems_dir(tmp_path), "m", "preference", topics=["Coffee"], per_model=2, comparisons=4,
                       out=str(tmp_path / "out"))
    recs = [json.loads(x) for x in open(rows[0]["path"])]
    assert len(recs) == 5 and sum(r["control"] for r in recs) == 1
    assert rows[0]["pairs"] == 4 == judge_bias(recs)[0]["pairs"] and rows[0]["controls"] == 1
    assert rows[0]["control_correct"] in (True, False) and rows[0]["control_undecided"] == 0


def test_the_judge_table_says_pairs_leave_the_control_out(monkeypatch):
    import logitscope.tasks.poetry.judge as J
    row = {"judge": "m", "topic": "Coffee", "axis": "preference", "pairs": 4, "controls": 1, "per_model": 2,
           "position_bias": 0.6, "mean_shift": 0.2, "mean_invalid_mass": 0.1, "control_correct": True,
           "control_undecided": 0, "agreement_with_people": []}
    monkeypatch.setattr(J, "run_judge", lambda *a, **k: [row])
    out = CliRunner().invoke(main, ["poetry", "judge", "--axis", "preference", "--judge", "m"]).output
    assert re.search(r"\s4\s+0\.600\s", out.splitlines()[2])
    assert "pairs = the contest's pairs of poems, its control pair apart" in out


def test_the_layout_is_the_one_the_writers_use(tmp_path):
    """The names the readers take are the names `contest`, `judge` and `generate` write."""
    from logitscope.probes.poetry_files import AXIS_NAMES, LAYOUT
    from logitscope.tasks.poetry.contest import AXES, judgements_path
    from logitscope.tasks.results import ResultFile
    assert AXIS_NAMES == tuple(AXES)
    for axis in AXES:
        for tag in (None, "0123456789"):
            name = judgements_path(tmp_path, "Grocery shopping", axis, "judge:org/model-1", tag).name
            assert LAYOUT["judgements"][0].match(name), name
    for rank in (None, 3):
        name = ResultFile(tmp_path, "poetry", "org/some-model", {"seed": 0}, rank=rank).path.name
        assert LAYOUT["poems"][0].match(name), name
