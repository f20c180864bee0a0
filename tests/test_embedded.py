"""Slow: the embedded models (converted once into the user cache, then seconds)."""
import json

import pytest
from click.testing import CliRunner

from logitscope.cli.main import main

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("model,fmt", [("embedded:aligned", "chat"), ("embedded:base", "raw")])
def test_probe_dist_runs_and_accounts_mass(model, fmt):
    r = CliRunner().invoke(main, ["dist", "--model", model, "--prompt", "Pick a number between 0 and 10.",
                                  "--format", fmt, "--infix", "Number:", "--answers", "0-10", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output[r.output.index("{"):])
    assert len(out["top"]) == 10 and out["entropy_bits"] > 0
    total = out["valid_mass"] + out["invalid_mass"] + out["unexplored_mass"]
    assert total == pytest.approx(1.0, abs=1e-5)
    # the digits come after a separate " " token on both tokenizers: the single-token readout misses
    # them, the exact readout counts them
    first = CliRunner().invoke(main, ["dist", "--model", model, "--prompt", "Pick a number between 0 and 10.",
                                      "--format", fmt, "--infix", "Number:", "--answers", "0-10",
                                      "--method", "first-token", "--json"])
    approx = json.loads(first.output[first.output.index("{"):])
    assert out["valid_mass"] > 0.05
    assert out["valid_mass"] > 3 * approx["valid_mass"]


@pytest.mark.parametrize("game", ["rps", "hide-seek"])
def test_probe_determinism_on_the_embedded_models(game, tmp_path):
    """Both embedded models play (few games): the table's columns, valid moves, accounted mass;
    the session's readout equals a fresh exact readout of the same conversation."""
    r = CliRunner().invoke(main, ["determinism", "--game", game, "--games", "3", "--rounds", "3",
                                  "--out", str(tmp_path), "--json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output[r.output.index("["):])
    assert [x["model"] for x in rows] == ["embedded:base", "embedded:aligned", "uniform"]
    for row in rows[:2]:
        assert row["games"] == 3 and -100 <= row["net_score"] <= 100
        assert row["invalid_mass"] < 0.5 and row["unexplored_mass"] < 0.01
        assert row["no_valid_rounds"] == 0


def test_readme_python_examples_run():
    """The README's Python blocks, as written."""
    import re
    from pathlib import Path
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.DOTALL)
    assert len(blocks) >= 2
    scope = {}
    for code in blocks:
        exec(compile(code.replace("n=20, max_new_tokens=64", "n=2, max_new_tokens=8"), "README.md", "exec"), scope)


def test_creativity_commands_on_the_embedded_models(tmp_path):
    out = str(tmp_path)
    r = CliRunner().invoke(main, ["entropy", "--samples", "2", "--max-new-tokens", "8", "--out", out, "--json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output[r.output.index("["):])
    assert [x["model"] for x in rows] == ["embedded:base", "embedded:aligned"]
    assert all(0 <= x["mean_top5_entropy_bits"] <= 2.33 and x["tokens"] > 0 for x in rows)
    r = CliRunner().invoke(main, ["diversity", "--samples", "3", "--max-new-tokens", "8", "--out", out, "--json"])
    assert r.exit_code == 0, r.output
    assert all(-1 <= x["embedding_cosine"]["mean"] <= 1 for x in json.loads(r.output[r.output.index("["):]))
    r = CliRunner().invoke(main, ["poetry", "generate", "--topics", "coffee", "--per-topic", "1", "--max-attempts", "2",
                                  "--out", out, "--json"])
    assert r.exit_code == 0, r.output
    assert all(x["attempts"] >= 1 for x in json.loads(r.output[r.output.index("["):]))
