"""Randomness tasks: statistics against scipy / Monte Carlo, the uniform limits, temperature, top-p,
sequences (parsing, seeds, chunking), the CLI's JSON."""
import json

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import stats

from logitscope.cli.main import main
from logitscope.kernels.engine.answers import answer_distribution
from logitscope.probes.stats import (chi2_expected, chi2_uniform, repeat_histogram, repeats,
                                     uniform_repeat_histogram)
from logitscope.tasks.randomness import sequences as seq_task
from logitscope.tasks.randomness.integers import TASK as INTEGERS
from logitscope.tasks.randomness.letters import TASK as LETTERS
from logitscope.tasks.randomness.single import run_single
from logitscope.testing import bytelevel_tokenizer, tiny_lm


def test_chi2_against_scipy_and_the_formula():
    counts = np.array([30, 10, 25, 5, 30])
    got, p = chi2_uniform(counts)
    e = counts.sum() / len(counts)
    assert got == pytest.approx(((counts - e) ** 2 / e).sum())
    assert p == pytest.approx(stats.chi2.sf(got, len(counts) - 1))


def test_expected_chi2_against_monte_carlo():
    p = np.array([0.3, 0.2, 0.2, 0.1, 0.1, 0.05, 0.05])
    n = 1500
    rng = np.random.default_rng(0)
    sims = [stats.chisquare(rng.multinomial(n, p)).statistic for _ in range(4000)]
    assert chi2_expected(p, n) == pytest.approx(np.mean(sims), rel=0.01)
    assert chi2_expected(np.full(11, 1 / 11), n) == pytest.approx(10.0)      # k - 1 under uniform


def test_uniform_sequences_have_mode_three_repeats():
    h = uniform_repeat_histogram(11, 10, n=10_000, seed=0)
    assert int(np.argmax(h)) == 3 and h.sum() == pytest.approx(1.0)
    assert repeats([1, 1, 2, 3, 3, 3]) == 3
    assert repeat_histogram([[1, 2], [1, 1]], 2).tolist() == [0.5, 0.5]


def test_uniform_oracle_rows(tmp_path):
    rows = run_single(INTEGERS, ["uniform"], samples=1500, out=tmp_path)
    assert rows[0]["chi2_expected"] == pytest.approx(10.0)
    assert rows[0]["entropy_bits"] == pytest.approx(np.log2(11))
    rows = run_single(LETTERS, ["uniform"], samples=1500, out=tmp_path)
    assert rows[0]["chi2_expected"] == pytest.approx(10.0) and len(rows[0]["probs"]) == 11


@pytest.fixture(scope="module")
def num_lm():
    words = ["Number:", " 1", " 10", "10", "1.", " 2", " 3", "\n\n", " random", " integer"]
    return tiny_lm("llama", bytelevel_tokenizer(words=words), seed=21, peak=3.0)


def test_temperature_raises_entropy_and_top_p_one_is_no_top_p(num_lm, tmp_path):
    lm = num_lm
    rows = run_single(INTEGERS, [lm], temperatures=(0.5, 1.0, 1.5, 2.0), out=tmp_path, min_mass=1e-7)
    # the next-token entropy rises with temperature (always true of a softmax); the entropy of the
    # renormalised *answer* distribution need not: on this model it falls, as multi-token answers
    # lose mass to everything else at different rates (the study's Figure 7 point)
    nexts = [r["next_token_entropy_bits"] for r in rows]
    assert all(a < b for a, b in zip(nexts, nexts[1:])), nexts
    assert len({round(r["entropy_bits"], 6) for r in rows}) == 4
    assert all(r["valid_mass"] + r["invalid_mass"] + r["unexplored_mass"] == pytest.approx(1, abs=1e-5) for r in rows)
    prompt = lm.encode(INTEGERS.prompts[0], "Number:")
    plain = answer_distribution(lm, prompt, "0-10")
    same = answer_distribution(lm, prompt, "0-10", top_p=1.0)
    assert plain.answers == same.answers and plain.invalid_mass == same.invalid_mass
    cut = answer_distribution(lm, prompt, "0-10", top_p=0.5)
    assert cut.answers != plain.answers


def test_sequence_parsing():
    assert seq_task.parse(" 3, 7, 0, 10, 2, 2, 9, 4, 5, 1\n") == [3, 7, 0, 10, 2, 2, 9, 4, 5, 1]
    assert seq_task.parse("1, 2, 3") is None
    assert seq_task.parse("1, 2, 3, 4, 5, 6, 7, 8, 9, 11") is None          # out of range
    assert seq_task.parse("1 2 3 4 5 6 7 8 9 10 5 5") == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]


def test_sequences_sampling_is_seeded_and_chunk_free(num_lm, monkeypatch):
    a = seq_task._sample(num_lm, list(range(6)), 1.0, 1.0, 5, "Sequence:")
    monkeypatch.setattr(seq_task, "CHUNK", 2)
    b = seq_task._sample(num_lm, [0, 1], 1.0, 1.0, 5, "Sequence:") + seq_task._sample(num_lm, [2, 3, 4, 5], 1.0, 1.0, 5, "Sequence:")
    assert a == b and len(set(a)) > 1
    c = seq_task._sample(num_lm, list(range(6)), 1.0, 1.0, 6, "Sequence:")
    assert c != a


def test_cli_integers_json_keys_and_resume(tmp_path):
    args = ["integers", "--model", "uniform", "--out", str(tmp_path), "--json", "--temperature", "1", "--temperature", "2"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output[r.output.index("["):])
    assert len(rows) == 2
    for key in ("model", "probs", "valid_mass", "entropy_bits", "chi2_expected", "chi2_sampled", "p_value", "samples"):
        assert key in rows[0]
    again = CliRunner().invoke(main, args)
    assert json.loads(again.output[again.output.index("["):]) == rows
    bad = CliRunner().invoke(main, ["integers", "--model", "uniform", "--paraphrase", "9", "--out", str(tmp_path)])
    assert bad.exit_code == 1 and "paraphrase 9 does not exist" in bad.output


def test_cli_sequences_uniform(tmp_path):
    r = CliRunner().invoke(main, ["sequences", "--model", "uniform", "--samples", "200", "--out", str(tmp_path), "--json"])
    assert r.exit_code == 0, r.output
    row = json.loads(r.output[r.output.index("["):])[0]
    assert row["parsed"] == 200 and row["unparseable"] == 0
    assert row["repeat_mode"] in (2, 3, 4) and row["repeat_mse_vs_uniform"] < 0.01
