"""Contests that mixed up their work (issue 23) and what a new user meets (issue 26): poem ids per run,
judgements keyed by their two poems and the judge's settings, CSV export for blind annotators and its
import against the schedule, one-line errors, the poems that exist taken by default."""
import csv
import json
import re

import pytest
from click.testing import CliRunner
from test_poetry import MODELS, _poems_dir

from logitscope.cli.main import main
from logitscope.errors import UserError
from logitscope.probes.poetry_files import read_judgements
from logitscope.probes.ranking import kappas
from logitscope.tasks.poetry.contest import contest_poems, load_poems, schedule
from logitscope.testing import save_tiny_lm


def _ok(args):
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    return r


def _fails(args, *words):
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 1 and "Traceback" not in r.output, r.output
    lines = [ln for ln in r.output.splitlines() if ln.startswith("error: ")]
    assert len(lines) == 1 and all(w in lines[0] for w in words), r.output
    return r


@pytest.fixture(scope="module")
def judge_model(tmp_path_factory):
    return str(save_tiny_lm(tmp_path_factory.mktemp("judge"), "llama", peak=3.0, seed=8))


def _judged_pairs(path):
    return {(r["axis"], frozenset((r["left"], r["right"]))) for r in read_judgements([path])[0] if not r["control"]}


def _scheduled(poems_dir, seed=0, per_model=2, comparisons=4, axis="preference"):
    pairs, _ = schedule(contest_poems(load_poems(poems_dir), "coffee", per_model), "Coffee", axis, comparisons, seed)
    return {(axis, frozenset((p.left, p.right))) for p in pairs if not p.control}


def _generate(tmp_path, monkeypatch, *extra):
    from logitscope.tasks.poetry import generate as poetry
    monkeypatch.setattr(poetry, "parse_poem", lambda text: (["one", "two", "three", text[:20] or "four"], None))
    model = tmp_path / "m"
    if not model.exists():
        save_tiny_lm(model, "llama", peak=2.0, seed=3)
    return _ok(["poetry", "generate", "--model", str(model), "--topics", "coffee", "--per-topic", "3",   # old spellings
                "--out", str(tmp_path / "out"), "--json", *extra])


def test_poem_ids_are_unique_per_run_and_a_contest_names_its_run(tmp_path, monkeypatch):
    """Two runs of one model (seeds 0 and 1) keep all their poems; a contest asks which run to take."""
    rows = [_json(_generate(tmp_path, monkeypatch, "--seed", s))[0] for s in ("0", "1")]
    files = sorted((tmp_path / "out" / "poetry").glob("*.jsonl"))
    drawn = [json.loads(x) for f in files for x in open(f) if '"kind": "draw"' in x]
    poems = load_poems(tmp_path / "out" / "poetry")
    assert len(files) == 2 and len(poems) == sum(1 for d in drawn if d["poem"])      # none overwritten
    assert {p["run"] for p in poems.values()} == {r["run"] for r in rows}
    base = ["poetry", "contest", "--poems", str(tmp_path / "out" / "poetry"), "--topic", "coffee", "--axis",
            "originality", "--comparisons", "3"]
    _fails(base + ["--export", str(tmp_path / "x.csv")], "from 2 runs", rows[0]["run"], "--run")
    _ok(base + ["--export", str(tmp_path / "x.csv"), "--run", rows[1]["run"][:6]])
    _fails(base + ["--export", str(tmp_path / "x.csv"), "--run", "ffffff"], "no run ffffff")


def _json(r):
    return json.loads(r.output[r.output.index("["):])


def test_rewards_are_kept_per_reward_model(tmp_path, monkeypatch):
    from logitscope.tasks.poetry.rank import read_rewards
    from logitscope.testing import tiny_reward_model
    rms = [str(tiny_reward_model(tmp_path / f"rm{k}", seed=k)) for k in (1, 2)]
    for rm in rms:
        _generate(tmp_path, monkeypatch, "--rm", rm)
    got = read_rewards([tmp_path / "out" / "poetry"])
    assert set(got) == set(rms) and set(got[rms[0]]) == set(got[rms[1]]) == set(load_poems(tmp_path / "out"))
    assert got[rms[0]] != got[rms[1]]


def test_a_judge_rerun_with_another_seed_judges_that_seeds_pairs(tmp_path, judge_model):
    from logitscope.tasks.poetry.judge import run_judge
    poems = _poems_dir(tmp_path)
    kw = dict(topics=["Coffee"], per_model=2, comparisons=4, out=str(tmp_path / "out"))
    run_judge(poems, judge_model, "preference", seed=0, **kw)
    row = run_judge(poems, judge_model, "preference", seed=1, **kw)[0]
    assert _scheduled(poems, seed=1) != _scheduled(poems, seed=0)
    assert _scheduled(poems, seed=1) <= _judged_pairs(row["path"]) and row["pairs"] == 4


def test_adding_a_model_judges_the_new_schedule(tmp_path, judge_model):
    """A third model's poems change the schedule: every pair of the new one is judged (old records of
    other poem pairs are never taken for it), and each poem is shown equally often."""
    from logitscope.tasks.poetry.judge import run_judge
    poems = _poems_dir(tmp_path)
    third = next((poems / "poetry").glob(f"{MODELS[2]}-*.jsonl"))
    aside = third.rename(tmp_path / third.name)
    kw = dict(topics=["Coffee"], per_model=2, comparisons=6, out=str(tmp_path / "out"))
    run_judge(poems, judge_model, "preference", **kw)
    aside.rename(third)
    row = run_judge(poems, judge_model, "preference", **kw)[0]
    want = _scheduled(poems, comparisons=6)
    assert want <= _judged_pairs(row["path"]) and row["pairs"] == 6
    shown = {}
    for _, pair in want:
        for p in pair:
            shown[p] = shown.get(p, 0) + 1
    assert len(shown) == 6 and set(shown.values()) == {2}


def test_a_judge_with_other_settings_does_not_reuse_records(tmp_path, judge_model):
    from logitscope.tasks.poetry.judge import run_judge
    poems = _poems_dir(tmp_path)
    kw = dict(topics=["Coffee"], per_model=2, comparisons=4, out=str(tmp_path / "out"))
    first = run_judge(poems, judge_model, "preference", min_mass=1e-6, **kw)[0]
    second = run_judge(poems, judge_model, "preference", min_mass=1e-3, **kw)[0]
    recs = read_judgements([second["path"]])[0]
    assert second["path"] != first["path"] and len(recs) == 5
    assert all(r["settings"]["min_mass"] == 1e-3 and r["settings"]["judge"] == judge_model for r in recs)
    r = _ok(["poetry", "judge", "--poems", str(poems), "--judge", judge_model, "--axis", "preference", "--topic",
             "coffee", "--per-model", "2", "--comparisons", "4", "--out", str(tmp_path / "out")])
    assert "Coffee/preference: 5 of 5 judgements reused" in r.output       # the one wording of resumed work
    from logitscope.tasks.poetry.rank import run_rank
    names = run_rank([tmp_path / "out" / "poetry-judgements"], resamples=5)["contests"][0]["annotators"]
    assert len(names) == 2 and all(n.startswith(f"judge:{judge_model}@") for n in names)   # never pooled


def test_kappa_compares_the_same_two_poems():
    """Two annotators' records with the same old-style pair id but different poems share no pair."""
    def rec(who, left, right):
        return {"annotator": who, "pair": "coffee|preference|0", "axis": "preference", "left": left, "right": right,
                "choice": "left", "winner": left, "control": False}
    js = [rec("ann", f"a|c|{i}", f"b|c|{i}") for i in range(3)] + [rec("bob", f"a|c|{i}", f"b|c|{i + 5}")
                                                                   for i in range(3)]
    for i, j in enumerate(js):
        j["pair"] = f"coffee|preference|{i % 3}"
    assert kappas(js) == []


def _filled(export, path, who="crowd1", choice="left", rows=None):
    rows = rows or list(csv.DictReader(open(export)))
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        for k, x in enumerate(rows):
            w.writerow({**x, "annotator": who if k else "", "choice": choice if k else ""})    # row 1 left blank
    return rows


def test_csv_export_is_blind_and_import_checks_the_schedule(tmp_path):
    poems = _poems_dir(tmp_path)
    out = tmp_path / "out"
    base = ["poetry", "contest", "--poems", str(poems), "--topic", "coffee", "--axis", "originality",
            "--per-model", "2", "--comparisons", "4", "--out", str(out)]
    _ok(base + ["--export", str(tmp_path / "pairs.csv")])
    text = open(tmp_path / "pairs.csv").read()
    rows = list(csv.DictReader(open(tmp_path / "pairs.csv")))
    assert list(rows[0]) == ["pair", "topic", "axis", "question", "left_text", "right_text", "annotator", "choice"]
    assert len(rows) == 5 and all(re.fullmatch(r"p[0-9a-f]{12}", x["pair"]) for x in rows)
    assert not any(m in text for m in MODELS) and "control" not in text and "#" not in text
    assert all(x["annotator"] == "" and x["choice"] == "" for x in rows)
    _filled(tmp_path / "pairs.csv", tmp_path / "judged.csv")
    _fails(base + ["--seed", "1", "--import", str(tmp_path / "judged.csv")], "nothing imported",
           "4 rows name pairs not in this contest", "line 3")
    assert not (out / "poetry-judgements").exists()
    r = _ok(base + ["--import", str(tmp_path / "judged.csv")])
    assert "imported 4 judgements" in r.output and "1 row not filled in" in r.output
    recs, _ = read_judgements([out / "poetry-judgements"])
    poems_by_id = load_poems(poems)
    for rec, row in zip(recs, rows[1:]):                  # each row's left poem is the record's left poem
        shown = row["left_text"].splitlines()
        assert rec["choice"] == "left" and (rec["control"] or poems_by_id[rec["left"]]["lines"] == shown)
    r = _ok(base + ["--import", str(tmp_path / "judged.csv")])
    assert "imported 0 judgements" in r.output and "4 of 4 imported judgements reused" in r.output
    assert len(read_judgements([out / "poetry-judgements"])[0]) == 4
    bad = list(csv.DictReader(open(tmp_path / "pairs.csv")))
    _filled(tmp_path / "pairs.csv", tmp_path / "bad.csv", choice="maybe", rows=bad)
    _fails(base + ["--import", str(tmp_path / "bad.csv")], "need an annotator and a choice", "line 3")


def test_export_and_import_errors_are_one_line(tmp_path):
    base = ["poetry", "contest", "--poems", str(_poems_dir(tmp_path)), "--topic", "coffee", "--axis", "originality",
            "--per-model", "2", "--comparisons", "4", "--out", str(tmp_path / "out")]
    _fails(base + ["--export", "/nonexistent/dir/x.csv"], "cannot write /nonexistent/dir/x.csv", "no such directory")
    r = _fails(base + ["--import", str(tmp_path / "missing.csv")], "no such file", "missing.csv")
    assert r.output.startswith("error: ")                           # said first, before any other line
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    _fails(base + ["--import", str(tmp_path / "other.csv")], "no pair, annotator, choice column")


def test_a_missing_topics_file_is_no_such_file(tmp_path):
    from logitscope.tasks.poetry.generate import topic_list
    model = str(save_tiny_lm(tmp_path / "m", "llama", seed=1))
    for spelling in ("--topics", "--topic"):
        _fails(["poetry", "generate", "--model", model, spelling, "my_topics.txt", "--out", str(tmp_path / "out")],
               "no such file: my_topics.txt")
    assert not (tmp_path / "out").exists()
    assert topic_list(["coffee,web 2.0", "sleep"]) == ["Coffee", "web 2.0", "Sleep"]
    (tmp_path / "mine.txt").write_text("Tea\n\ncoffee\n")
    assert topic_list([str(tmp_path / "mine.txt")]) == ["Tea", "Coffee"]
    with pytest.raises(UserError, match="no such file: sub/dir"):
        topic_list(["sub/dir"])


def test_judge_and_contest_take_the_poems_that_exist(tmp_path, judge_model):
    """3 poems per model, one model with 2 on Coffee: without --per-model a contest takes 2 of each."""
    poems = _poems_dir(tmp_path, per_model=3, topics=("Coffee",))
    f = next((poems / "poetry").glob(f"{MODELS[1]}-*.jsonl"))
    f.write_text("".join(x for x in open(f) if '"attempt": 3,' not in x))
    r = _ok(["poetry", "judge", "--poems", str(poems), "--judge", judge_model, "--axis", "preference",
             "--comparisons", "4", "--out", str(tmp_path / "out"), "--json"])
    assert "Coffee: 2 poems per model (the most every model has" in r.output
    assert _json(r)[0]["per_model"] == 2
    r = _ok(["poetry", "contest", "--poems", str(poems), "--topic", "coffee", "--axis", "preference",
             "--comparisons", "4", "--export", str(tmp_path / "x.csv")])
    assert "wrote 4 pairs and 1 control pair" in r.output
