"""Poetry contests: poem parsing, balanced schedules with a control pair, the terminal contest driven
by scripted keys (quit and resume), the exact judge, Bradley-Terry against simulated strengths,
agreement against hand counts, and bad input."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from logitscope.cli.main import main
from logitscope.errors import UserError
from logitscope.probes.bradley_terry import bt_with_ci
from logitscope.probes.poetry_files import read_judgements
from logitscope.probes.ranking import kappas, spearman
from logitscope.tasks.poetry.contest import CONTROL, contest_poems, load_poems, schedule
from logitscope.tasks.poetry.generate import parse_poem
from logitscope.tasks.results import config_hash
from logitscope.testing import save_tiny_lm

MODELS = ("base-model", "aligned-model", "other-model")
WORDS = "bean cup steam dawn night dream bed pillow warm dark light slow morning".split()


def _poems_dir(tmp_path, per_model=5, topics=("Coffee", "Sleep"), models=MODELS):
    """Poetry result files as `probe poetry generate` writes them (one per model, ids as written
    before runs were part of them), with made-up poems; attempt 1 of each topic is a rejected draw."""
    d = tmp_path / "poems" / "poetry"
    d.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for m in models:
        config = {"task": "poetry", "model": m, "seed": 0, "temperature": 1.0}
        with open(d / f"{m}-{config_hash(config)}.jsonl", "w") as fh:
            fh.write(json.dumps({"type": "run", "config": config}) + "\n")
            for t in topics:
                for a in range(per_model + 1):
                    lines = [" ".join(rng.choice(WORDS, 5)) for _ in range(4)] if a != 1 else None
                    fh.write(json.dumps({"type": "unit", "kind": "draw", "topic": t, "attempt": a, "text": "x",
                                         "poem": lines, "reason": None if lines else "fewer than 4 lines",
                                         "id": f"{m}|{t}|{a}"}) + "\n")    # ids as written before runs
    return d.parent


def test_poem_parsing():
    assert parse_poem("Morning cup,\nsteam on my face\nbitter and warm\nI wake again.") == (
        ["Morning cup,", "steam on my face", "bitter and warm", "I wake again."], None)
    assert parse_poem("**Ode to Coffee**\n\nMorning cup,\nsteam\nbitter\nwake.")[0][0] == "Morning cup,"
    assert parse_poem("one\ntwo\nthree") == (None, "fewer than 4 lines")
    assert parse_poem("a,\nb,\nc,\nd,\ne,\nf.")[1] == "more than 4 lines"
    assert parse_poem("   \n ") == (None, "empty")
    assert parse_poem("x" * 130 + "\nb\nc\nd")[1] == "a line over 120 characters"


def test_schedule_is_balanced_with_one_control(tmp_path):
    chosen = contest_poems(load_poems(_poems_dir(tmp_path)), "coffee", 5)
    assert len(chosen) == 15 and all("|1" not in p for p in chosen)      # the rejected draw is never a poem
    pairs, bag = schedule(chosen, "coffee", "originality", 60, seed=0)
    assert len(pairs) == 61 and sum(p.control for p in pairs) == 1 and len(bag) == 4
    shown = {}
    for p in pairs:
        if not p.control:
            assert chosen[p.left]["model"] != chosen[p.right]["model"]
            for x in (p.left, p.right):
                shown[x] = shown.get(x, 0) + 1
    assert set(shown.values()) == {8}                                  # 120 showings over 15 poems
    assert len({frozenset((p.left, p.right)) for p in pairs}) == 61    # no pair twice
    again, _ = schedule(chosen, "coffee", "originality", 60, seed=0)
    assert again == pairs and schedule(chosen, "coffee", "preference", 60, seed=0)[0] != pairs
    assert sum((p.left == CONTROL) for p in pairs) + sum((p.right == CONTROL) for p in pairs) == 1


def test_exact_judge_accounts_for_mass_and_swaps(tmp_path):
    from logitscope.kernels.engine.answers import answer_distributions
    from logitscope.tasks.poetry.judge import INFIX, PROMPT, run_judge
    from logitscope.testing import save_tiny_lm
    judge = str(save_tiny_lm(tmp_path / "judge", "llama", peak=3.0, seed=8))
    rows = run_judge(_poems_dir(tmp_path), judge, "preference", topics=["Coffee"], per_model=2, comparisons=4,
                     out=str(tmp_path / "out"))
    recs, _ = read_judgements([rows[0]["path"]])
    assert len(recs) == 5 and rows[0]["pairs"] == 4 and rows[0]["controls"] == 1     # the control apart
    for r in recs:
        for order in (r["order_left_first"], r["order_right_first"]):
            assert order["A"] + order["B"] + order["invalid"] + order["unexplored"] == pytest.approx(1.0, abs=1e-5)
        assert r["p_left"] == pytest.approx((r["p_left_first"] + r["p_left_second"]) / 2)
    from logitscope.kernels.models.loading import load_model
    from logitscope.tasks.poetry.contest import AXES
    lm = load_model(judge)
    poems = load_poems(_poems_dir(tmp_path / "texts"))
    r = next(x for x in recs if not x["control"])
    x, y = ("\n".join(poems[pid]["lines"]) for pid in (r["left"], r["right"]))
    ab = PROMPT.format(topic="coffee", a=x, b=y, question=AXES["preference"])
    ba = PROMPT.format(topic="coffee", a=y, b=x, question=AXES["preference"])
    d1, d2 = answer_distributions(lm, [ab, ba], {"A": ["A"], "B": ["B"]}, infix=INFIX)
    assert r["order_left_first"]["A"] == pytest.approx(d1.answers["A"], abs=1e-9)      # left shown as A
    assert r["order_right_first"]["B"] == pytest.approx(d2.answers["B"], abs=1e-9)     # swapped: left shown as B
    assert r["p_left_second"] == pytest.approx(d2.answers["B"] / (d2.answers["A"] + d2.answers["B"]))
    again = run_judge(_poems_dir(tmp_path / "again"), judge, "preference", topics=["Coffee"], per_model=2,
                      comparisons=4, out=str(tmp_path / "out"))                   # same pairs: resumed, nothing new
    assert len(read_judgements([again[0]["path"]])[0]) == 5


def test_bradley_terry_recovers_simulated_strengths():
    rng = np.random.default_rng(1)
    truth = np.array([-1.0, -0.4, 0.0, 0.3, 1.1])
    truth -= truth.mean()
    items = [f"p{i}" for i in range(5)]
    comps = []
    for _ in range(2000):
        i, j = rng.choice(5, 2, replace=False)
        p = 1 / (1 + np.exp(truth[j] - truth[i]))
        comps.append((items[i], items[j], 1.0) if rng.random() < p else (items[j], items[i], 1.0))
    got = bt_with_ci(comps, items, resamples=200, seed=0)
    for i, x in enumerate(items):
        assert got[x]["lo"] <= truth[i] <= got[x]["hi"], (x, truth[i], got[x])
    assert [got[x]["strength"] for x in items] == sorted(got[x]["strength"] for x in items)


def test_kappa_and_spearman_against_hand_computations():
    from scipy import stats

    def j(ann, pair, winner):        # six pairs of two poems each: a|t|p0 vs b|t|p0, ...
        return {"annotator": ann, "pair": pair, "axis": "preference", "left": f"a|t|{pair}", "right": f"b|t|{pair}",
                "choice": "left" if winner.startswith("a") else "right", "winner": f"{winner[0]}|t|{pair}",
                "control": False}
    a = ["a|t|0", "a|t|0", "b|t|0", "b|t|0", "a|t|0", "b|t|0"]
    b = ["a|t|0", "b|t|0", "b|t|0", "b|t|0", "a|t|0", "a|t|0"]
    js = [j("x", f"p{i}", w) for i, w in enumerate(a)] + [j("y", f"p{i}", w) for i, w in enumerate(b)]
    k = kappas(js)[0]
    po = np.mean([u == v for u, v in zip(a, b)])
    pa, pb = np.mean([u == "a|t|0" for u in a]), np.mean([v == "a|t|0" for v in b])
    pe = pa * pb + (1 - pa) * (1 - pb)
    assert k["kappa"] == pytest.approx((po - pe) / (1 - pe)) and k["items"] == 6
    x, y = {"p": 1.0, "q": 3.0, "r": 2.0, "s": 5.0}, {"p": 2.0, "q": 1.0, "r": 4.0, "s": 3.0, "z": 9.0}
    got = spearman(x, y)
    want = stats.spearmanr([1.0, 3.0, 2.0, 5.0], [2.0, 1.0, 4.0, 3.0])
    assert got["rho"] == pytest.approx(want.statistic) and got["n"] == 4


def test_bad_input(tmp_path):
    poems = _poems_dir(tmp_path)
    with pytest.raises(UserError, match="unknown topic 'tea'"):
        contest_poems(load_poems(poems), "tea", 2)
    with pytest.raises(UserError, match="fewer than --per-model 9"):
        contest_poems(load_poems(poems), "coffee", 9)
    with pytest.raises(UserError, match="--per-model must be at least 1"):
        contest_poems(load_poems(poems), "coffee", 0)
    r = CliRunner().invoke(main, ["poetry", "contest", "--poems", str(poems), "--topic", "tea", "--axis",
                                  "originality", "--annotator", "me"])
    assert r.exit_code == 1 and "unknown topic" in r.output and "Traceback" not in r.output
    f = tmp_path / "j.jsonl"
    good = {"pair": "coffee|preference|0", "topic": "Coffee", "axis": "preference", "annotator": "ann",
            "left": "base-model|Coffee|0", "right": "aligned-model|Coffee|0", "choice": "left",
            "winner": "base-model|Coffee|0", "control": False}
    f.write_text(json.dumps(good) + "\n{not json\n" + json.dumps({**good, "pair": "coffee|preference|1"}) + "\n"
                 + json.dumps({"pair": "x"}) + "\n")
    recs, problems = read_judgements([f])
    assert len(recs) == 2 and problems == [f"{f}: 2 of 4 lines are not judgements, skipped (first at line 2: "
                                           "not JSON (Expecting property name enclosed in double quotes))"]
    r = CliRunner().invoke(main, ["poetry", "rank", "--judgements", str(f), "--out", str(tmp_path), "--json"])
    assert r.exit_code == 0, r.output
    assert f"warning: {f}: 2 of 4 lines" in r.output and "base-model" in r.output


def test_rewards_per_poem_and_against_rankings(tmp_path, monkeypatch):
    """--rm scores every accepted poem once (a rerun adds none); rank correlates strengths with rewards."""
    from logitscope.tasks.poetry import generate as poetry
    from logitscope.testing import tiny_reward_model
    model = str(save_tiny_lm(tmp_path / "m", "llama", peak=2.0, seed=3))
    rm = str(tiny_reward_model(tmp_path / "rm"))
    monkeypatch.setattr(poetry, "parse_poem", lambda text: (["one", "two", "three", text[:20] or "four"], None))
    args = ["poetry", "generate", "--model", model, "--topics", "coffee", "--per-topic", "3", "--rm", rm,
            "--out", str(tmp_path / "out"), "--json"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    row = json.loads(r.output[r.output.index("["):])[0]
    assert row["rewards"]["mean"]["Coffee"] != 0
    f = next((tmp_path / "out" / "poetry").glob("*.jsonl"))
    n = sum('"kind": "reward"' in x for x in open(f))
    assert n >= 3
    assert CliRunner().invoke(main, args).exit_code == 0
    assert sum('"kind": "reward"' in x for x in open(f)) == n
    from logitscope.tasks.poetry.rank import read_rewards
    rewards = read_rewards([tmp_path / "out" / "poetry"])[rm]
    ids = sorted(rewards)
    js = [{"pair": f"p{i}{j}", "topic": "Coffee", "axis": "preference", "annotator": "ann", "left": a, "right": b,
           "choice": "left" if rewards[a] > rewards[b] else "right", "winner": a if rewards[a] > rewards[b] else b,
           "control": False} for i, a in enumerate(ids) for j, b in enumerate(ids) if i < j]
    (tmp_path / "j.jsonl").write_text("".join(json.dumps(x) + "\n" for x in js))
    from logitscope.tasks.poetry.rank import run_rank
    res = run_rank([tmp_path / "j.jsonl"], rewards=[tmp_path / "out" / "poetry"])
    assert res["spearman_reward"][rm]["preference"]["rho"] == pytest.approx(1.0)   # people preferred the rewarded poems
