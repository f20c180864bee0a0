"""Values at the edges (#35): every option has a declared range, the answer tree's work is bounded
whatever min-mass is accepted, and a path of the wrong kind is named as such."""
import math

import click
import numpy as np
import pytest
from click.testing import CliRunner

from logitscope.cli.common import Ranged
from logitscope.cli.main import main
from logitscope.errors import UserError
from logitscope.kernels.engine import answers as answers_mod
from logitscope.kernels.engine import tree
from logitscope.kernels.engine.answers import answer_distribution, answer_distributions, expand_exact, prefill
from logitscope.kernels.engine.session import Session
from logitscope.kernels.engine.spaces import parse_answers
from logitscope.limits import MIN_MASS, Range
from logitscope.testing import save_tiny_lm


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return str(save_tiny_lm(tmp_path_factory.mktemp("m") / "tiny", "llama", peak=2.0, seed=5))


def _one_line(r, text, code=1):
    assert r.exit_code == code, r.output
    assert text in r.output and "Traceback" not in r.output and r.output.strip().count("\n") == 0, r.output


# ---------------------------------------------------------------- declared ranges
def _commands(group, prefix=()):
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, prefix + (name,))
        else:
            yield prefix + (name,), cmd


def test_every_numeric_option_has_a_declared_range():
    """No option takes a bare int or float: each has a range (limits.Range through cli.common.ranged,
    or click's own ranges), so 0, negative and huge values are refused before any work."""
    bare = [f"{' '.join(path)} {p.opts[0]}" for path, cmd in _commands(main) for p in cmd.params
            if isinstance(p.type, (click.types.IntParamType, click.types.FloatParamType))
            and not isinstance(p.type, click.types._NumberRangeBase)]
    assert not bare, bare
    ranged = {f"{' '.join(path)} {p.opts[0]}" for path, cmd in _commands(main) for p in cmd.params
              if isinstance(p.type, Ranged)}
    assert {"determinism --min-mass", "dist --min-mass", "poetry judge --min-mass", "determinism --batch-size",
            "reward --batch-size", "integers --samples", "entropy --max-new-tokens"} <= ranged


@pytest.mark.parametrize("args, text", [
    (["determinism", "--min-mass", "0"], "--min-mass must be a number in (0, 1) (got 0): "),
    (["determinism", "--min-mass", "-1"], "--min-mass must be a number in (0, 1) (got -1)"),
    (["dist", "-m", "uniform", "-p", "x", "--min-mass", "2"], "--min-mass must be a number in (0, 1) (got 2)"),
    (["poetry", "judge", "--axis", "originality", "--min-mass", "1"], "--min-mass must be a number in (0, 1)"),
    (["determinism", "--batch-size", "0"], "--batch-size must be a whole number in [1, 4096] (got 0)"),
    (["reward", "--task", "integers", "--batch-size", "0"], "--batch-size must be a whole number in [1, 4096]"),
    (["determinism", "--games", "0"], "--games must be a whole number in [1, "),
    (["determinism", "--rounds", "1.5"], "--rounds must be a whole number in [1, 1000] (got 1.5)"),
    (["integers", "--temperature", "inf"], "--temperature must be a finite number > 0 (got inf)"),
    (["integers", "--top-p", "0"], "--top-p must be a number in (0, 1] (got 0)"),
    (["entropy", "--samples", "-3"], "--samples must be a whole number in [1, "),
    (["dist", "-m", "uniform", "-p", "x", "--top-k", "many"], "--top-k takes a number (got 'many')"),
])
def test_out_of_range_is_one_line_before_any_work(args, text):
    r = CliRunner().invoke(main, args)
    _one_line(r, text)


def test_min_mass_says_why_its_range_is_what_it_is():
    r = CliRunner().invoke(main, ["determinism", "--min-mass", "0"])
    assert "without pruning the answer tree has no end" in r.output


def test_range_edges():
    r = Range(0.0, 1.0, open_lo=True, open_hi=True)
    assert [r.contains(x) for x in (0, 1e-300, 0.5, 1 - 1e-16, 1, -1, math.nan, math.inf, "x")] == \
        [False, True, True, True, False, False, False, False, False]
    whole = Range(1, 10, integer=True)
    assert whole.check(3.0, "n") == 3 and isinstance(whole.check(3.0, "n"), int)
    with pytest.raises(UserError, match=r"n must be a whole number in \[1, 10\] \(got 2.5\)"):
        whole.check(2.5, "n")
    with pytest.raises(UserError):
        whole.check(True, "n")                       # a bool is not a count


@pytest.mark.parametrize("bad", [0.0, -1.0, 1.0, 2.0, math.nan, math.inf])
def test_python_api_refuses_min_mass_outside_its_range(llama_lm, bad):
    prompt = "Pick a number"
    with pytest.raises(UserError, match=r"min_mass must be a number in \(0, 1\)"):
        answer_distribution(llama_lm, prompt, "0-10", min_mass=bad)
    with pytest.raises(UserError, match=r"min_mass must be a number in \(0, 1\)"):
        answer_distributions(llama_lm, [prompt], "0-10", min_mass=bad, method="first-token")
    ids = llama_lm.tokenizer(prompt, add_special_tokens=False)["input_ids"]
    with pytest.raises(UserError, match="min_mass"):
        expand_exact(llama_lm, prefill(llama_lm, [ids]), parse_answers("0-10"), min_mass=bad)
    s = Session(llama_lm, prompt, 2)
    with pytest.raises(UserError, match="min_mass"):
        s.read_answers(parse_answers("0-10"), min_mass=bad)


# ---------------------------------------------------------------- the tree's work is bounded
def _count_queries(monkeypatch):
    """Every forward of the answer tree, as (rows, queries per row)."""
    seen = []
    real = tree.run

    def counting(body, **kw):
        seen.append(tuple(kw["input_ids"].shape))
        return real(body, **kw)
    monkeypatch.setattr(tree, "run", counting)
    return seen


def test_a_tiny_min_mass_meets_the_work_cap_and_says_so(llama_lm, monkeypatch, capsys):
    """min-mass 1e-300 prunes nothing a float can hold: the tree stops at `max_tree` branches per
    readout, the mass it left is unexplored and counted as capped, all mass still sums to 1, and one
    note says so (once per min-mass)."""
    seen = _count_queries(monkeypatch)
    monkeypatch.setattr(answers_mod, "_CAP_SAID", set())
    prompts = ["Pick a number", "1 7 1 0"]
    ds = answer_distributions(llama_lm, prompts, "0-10", min_mass=1e-300, max_steps=6)
    forwarded = sum(r * q for r, q in seen)
    assert forwarded <= 2 * tree.MAX_TREE
    for d in ds:
        assert d.capped_mass > 0 and d.capped_mass <= d.unexplored_mass + 1e-15
        assert d.valid_mass + d.invalid_mass + d.unexplored_mass == pytest.approx(1.0, abs=1e-9)
        assert d.to_json()["capped_mass"] == d.capped_mass
    err = capsys.readouterr().err
    assert err.count("reached its work cap") == 1 and "counted as unexplored" in err
    answer_distributions(llama_lm, prompts, "0-10", min_mass=1e-300, max_steps=6)
    assert "work cap" not in capsys.readouterr().err                      # said once


def test_the_cap_is_per_readout_and_keeps_the_heaviest(llama_lm, monkeypatch):
    """The cap counts each root's own branches: the same prompt read alone or beside others gives the
    same numbers, and a lower cap leaves more mass unexplored, never less."""
    space = parse_answers("0-10")
    ids = [llama_lm.tokenizer(t, add_special_tokens=False)["input_ids"] for t in ("Pick a number", "7 1 0 1 7")]
    kw = dict(min_mass=1e-12, max_steps=5)
    alone = expand_exact(llama_lm, prefill(llama_lm, ids[:1]), space, max_tree=300, **kw)[0]
    both = expand_exact(llama_lm, prefill(llama_lm, ids), space, max_tree=300, **kw)[0]
    assert both.capped_mass == pytest.approx(alone.capped_mass, rel=1e-6, abs=1e-12)
    for a in space.labels:
        assert both.answers[a] == pytest.approx(alone.answers[a], rel=1e-5, abs=1e-12)
    more = expand_exact(llama_lm, prefill(llama_lm, ids[:1]), space, max_tree=1200, **kw)[0]
    assert more.capped_mass < alone.capped_mass and more.valid_mass >= alone.valid_mass - 1e-12


def test_a_step_too_big_for_one_forward_is_split_by_roots(llama_lm, monkeypatch):
    """With the step budgets made tiny, every step is forwarded root by root: the same numbers as one
    batched forward, more passes, and no forward holds two roots' rows past the budget."""
    space = parse_answers("0-10")
    prompts = [llama_lm.tokenizer(t, add_special_tokens=False)["input_ids"] for t in
               ("Pick a number", "7 1 0", "a 1 7 0 a 1 7 7", "1")]
    kw = dict(min_mass=1e-5, max_steps=4)
    want = expand_exact(llama_lm, prefill(llama_lm, prompts), space, **kw)
    seen = _count_queries(monkeypatch)
    monkeypatch.setattr(tree, "STEP_CELLS", 1)
    got = expand_exact(llama_lm, prefill(llama_lm, prompts), space, **kw)
    assert seen and all(rows == 1 for rows, _ in seen)
    for w, g in zip(want, got):
        assert g.forwards > w.forwards
        assert g.unexplored_mass == pytest.approx(w.unexplored_mass, abs=1e-9)
        assert g.capped_mass == w.capped_mass == 0
        for a in space.labels:
            assert g.answers[a] == pytest.approx(w.answers[a], rel=1e-5, abs=1e-9)


def test_the_step_logits_budget_bounds_branches_per_step(llama_lm, monkeypatch):
    """A step's logits [vocab, queries] stay inside STEP_LOGITS_BYTES: with room for 8 queries, no root
    forwards more than 8 branches at a step, and the rest is capped mass."""
    vocab = llama_lm.model.get_output_embeddings().weight.shape[0]
    monkeypatch.setattr(tree, "STEP_LOGITS_BYTES", 8 * 4 * vocab)
    seen = _count_queries(monkeypatch)
    d = answer_distribution(llama_lm, "Pick a number", "0-10", min_mass=1e-9, max_steps=4)
    assert seen and max(r * q for r, q in seen) <= 8
    assert d.capped_mass > 0


def test_unbounded_min_mass_used_to_run_away_now_is_bounded_in_memory_and_time(llama_lm):
    """The readout at the smallest positive min-mass finishes with at most MAX_TREE branches a root
    (old code: unbounded trees; the issue's run grew to 13 GB)."""
    acc_used = []
    real = tree._cap

    def watch(kids, branches, acc, limits):
        out = real(kids, branches, acc, limits)
        acc_used.append(acc.used.copy())
        return out
    import unittest.mock as um
    with um.patch.object(tree, "_cap", watch):
        answer_distribution(llama_lm, "Pick a number", "0-10", min_mass=5e-324)
    assert np.max(acc_used[-1]) <= tree.MAX_TREE


def test_min_mass_range_is_the_one_declared_in_limits():
    assert not MIN_MASS.contains(0) and not MIN_MASS.contains(1) and MIN_MASS.contains(1e-6)


# ---------------------------------------------------------------- paths of the wrong kind
@pytest.mark.parametrize("args, text", [
    (["dist", "--model", "README.md", "-p", "x"], "README.md is a file, not a model directory"),
    (["report", "README.md"], "README.md is a file, not a results directory"),
    (["reward", "--input", "."], ". is a directory, not a file (--input takes"),
    (["dist", "-m", "uniform", "-p", "x", "--answers", "./"], "./ is a directory, not a file (--answers takes"),
])
def test_a_path_of_the_wrong_kind_is_named_so(args, text, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "README.md").write_text("hello\n")
    r = CliRunner().invoke(main, args)
    _one_line(r, text, code=1)


def test_report_scores_of_a_directory(tmp_path):
    (tmp_path / "results").mkdir()
    r = CliRunner().invoke(main, ["report", str(tmp_path / "results"), "--scores", str(tmp_path)])
    _one_line(r, "is a directory, not a file (--scores takes", code=1)


def test_device_map_of_a_directory(tmp_path):
    from logitscope.kernels.models.quant import parse_device_map
    with pytest.raises(UserError, match="is a directory, not a file"):
        parse_device_map(str(tmp_path))


# ---------------------------------------------------------------- Ctrl-C where nothing is written
def test_ctrl_c_of_dist_claims_no_file(monkeypatch):
    """probe dist writes no file: its Ctrl-C must not say results were kept or that a rerun resumes."""
    from logitscope.tasks.randomness import dist as dist_mod

    def interrupted(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(dist_mod, "run_dist", interrupted, raising=False)
    import logitscope.cli.randomness as cli_r
    monkeypatch.setattr(cli_r, "run_dist", interrupted, raising=False)
    r = CliRunner().invoke(main, ["dist", "-m", "uniform", "-p", "x"])
    assert r.exit_code == 130, r.output
    assert "kept" not in r.output and "resume" not in r.output.replace("nothing to resume", "")
    assert "no result file was written" in r.output


def test_dist_shows_what_the_work_cap_left(tiny_dir, monkeypatch):
    monkeypatch.setattr(answers_mod, "_CAP_SAID", set())
    r = CliRunner().invoke(main, ["dist", "--model", tiny_dir, "--prompt", "Pick a number", "--answers", "0-10",
                                  "--min-mass", "1e-300"])
    assert r.exit_code == 0, r.output
    assert "reached its work cap (4,096 branches a readout" in r.output
    assert "of it past the tree's work cap" in r.output
    plain = CliRunner().invoke(main, ["dist", "--model", tiny_dir, "--prompt", "Pick a number", "--answers", "0-10"])
    assert "work cap" not in plain.output


def test_the_oracle_has_no_mode_all_its_answers_tie(tmp_path):
    """The uniform oracle's row read 'mode 0' (argmax takes the first of 11 equal answers)."""
    from logitscope.report.numbers import mode_text
    from logitscope.tasks.randomness.single import measure
    rng = np.random.default_rng(0)
    flat = measure({str(i): 1 / 11 for i in range(11)}, 1.0, 100, rng)
    assert flat["mode"] is None and flat["mode_ties"] == [str(i) for i in range(11)]
    assert mode_text(flat) == "tie of 11"
    two = measure({"a": 0.4, "b": 0.4, "c": 0.2}, 1.0, 100, rng)
    assert mode_text(two) == "tie of 2" and two["mode_ties"] == ["a", "b"]
    one = measure({"a": 0.2, "b": 0.5, "c": 0.3}, 1.0, 100, rng)
    assert one["mode"] == "b" and "mode_ties" not in one and mode_text(one) == "b"
    r = CliRunner().invoke(main, ["integers", "-m", "uniform", "--samples", "50", "--out", str(tmp_path)])
    assert r.exit_code == 0 and "tie of 11" in r.output, r.output
