"""Games and the determinism probe: oracle limits, a predictable model, seeds, chunking, resuming."""
import json
import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from logitscope.cli.main import main
from logitscope.kernels.models.oracle import UniformLM
from logitscope.probes.determinism import mean_ci, summarise, uniform_expected_net
from logitscope.tasks.games.play import play_batch, run_model
from logitscope.tasks.games.rules import get_game
from logitscope.testing import DEFAULT_WORDS, bytelevel_tokenizer, tiny_lm


def test_uniform_expected_net_is_analytic():
    assert uniform_expected_net("rps", 3) == 0.0
    assert uniform_expected_net("hide-seek", 7) == pytest.approx(500 / 7)      # 71.43
    assert round(uniform_expected_net("hide-seek", 7), 1) == 71.4


@pytest.mark.parametrize("game,rates", [("rps", (1 / 3, 1 / 3, 1 / 3)), ("hide-seek", (6 / 7, 1 / 7, 0.0))])
def test_uniform_oracle_matches_the_limits_over_simulated_games(game, rates, tmp_path):
    g = get_game(game)
    recs, _ = run_model(UniformLM(), g, games=3000, rounds=10, seed=1, out=tmp_path)
    row = summarise(recs)
    expected = uniform_expected_net(game, len(g.moves))
    lo, hi = row["net_score_ci95"]
    assert lo < expected < hi
    assert abs(row["net_score"] - expected) < 3 * (hi - lo) / 2
    for got, want in zip((row["win_rate"], row["loss_rate"], row["tie_rate"]), rates):
        assert got / 100 == pytest.approx(want, abs=0.015)
    assert row["determinism"] == pytest.approx(1 / len(g.moves), abs=1e-6)
    assert row["invalid_mass"] == 0.0


def test_mean_ci_matches_the_t_interval():
    x = np.array([3.0, -1.0, 4.0, 1.0, -5.0, 9.0])
    m, lo, hi = mean_ci(x)
    half = 2.5705818366147395 * x.std(ddof=1) / math.sqrt(len(x))   # t(0.975, 5)
    assert (m, lo, hi) == pytest.approx((x.mean(), x.mean() - half, x.mean() + half))


def test_summary_by_previous_outcome():
    recs = [{"outcomes": ["win", "loss", "tie", "win"], "probs": [[.5, .3, .2], [.9, .05, .05], [.4, .4, .2], [1, 0, 0]],
             "valid_mass": [1, 1, 1, .5], "invalid_mass": [0, 0, 0, .5], "unexplored_mass": [0, 0, 0, 0]}]
    row = summarise(recs)
    assert row["net_score"] == pytest.approx((2 - 1) / 4 * 100)
    assert row["determinism"] == pytest.approx((.5 + .9 + .4 + 1) / 4)
    assert row["determinism_after"] == pytest.approx({"win": .9, "loss": .4, "tie": 1.0})
    assert row["invalid_mass"] == pytest.approx(.125)


SPOTS = get_game("hide-seek").moves


@pytest.fixture(scope="module")
def game_lm():
    words = DEFAULT_WORDS + [w for s in SPOTS for w in (s, " " + s)] + ["Hiding", " place:"]
    return tiny_lm("llama", bytelevel_tokenizer(words=words), seed=11, peak=4.0)


@pytest.fixture(scope="module")
def rock_lm():
    """A tiny random model that always prefers " rock" (a bias on the LM head's output)."""
    lm = tiny_lm("llama", bytelevel_tokenizer(), seed=12)
    rock = lm.tokenizer.convert_tokens_to_ids("Ġrock")
    bias = torch.zeros(lm.model.config.vocab_size)
    bias[rock] = 30.0
    lm.model.get_output_embeddings().register_forward_hook(lambda mod, args, out: out + bias)
    return lm


def test_a_model_that_always_plays_rock_loses_every_round(rock_lm):
    recs = play_batch(rock_lm, get_game("rps"), list(range(4)), rounds=5, seed=0)
    for rec in recs:
        assert rec["moves"] == ["rock"] * 5
        assert rec["adversary"] == ["paper"] * 5
        assert rec["outcomes"] == ["loss"] * 5
    row = summarise(recs)
    assert row["net_score"] == -100.0 and row["determinism"] > 0.999


@pytest.mark.parametrize("game", ["rps", "hide-seek"])
def test_same_seed_same_games_whatever_the_chunking(game_lm, game, tmp_path):
    g = get_game(game)
    together = play_batch(game_lm, g, list(range(6)), rounds=4, seed=3)
    apart = play_batch(game_lm, g, [4, 5, 0], rounds=4, seed=3) + play_batch(game_lm, g, [1, 2, 3], rounds=4, seed=3)
    apart = sorted(apart, key=lambda r: r["game"])
    for a, b in zip(together, apart):
        assert (a["game"], a["moves"], a["adversary"], a["outcomes"]) == (b["game"], b["moves"], b["adversary"], b["outcomes"])
        np.testing.assert_allclose(a["probs"], b["probs"], atol=1e-5)
    other = play_batch(game_lm, g, list(range(6)), rounds=4, seed=4)
    assert [r["moves"] for r in other] != [r["moves"] for r in together]
    # the model's move distribution is a real one: not uniform, accounted
    assert max(max(p) for r in together for p in r["probs"]) > 1 / len(g.moves) + 0.01
    assert min(v for r in together for v in r["valid_mass"]) > 1e-3
    for r in together:
        for v, i, u in zip(r["valid_mass"], r["invalid_mass"], r["unexplored_mass"]):
            assert v + i + u == pytest.approx(1.0, abs=1e-5)


def test_first_token_adversary_is_recorded(game_lm):
    recs = play_batch(game_lm, get_game("rps"), [0, 1], rounds=2, seed=0, adversary="first-token")
    assert all(len(r["adversary_probs"]) == 2 for r in recs)


def test_resume_after_a_kill_and_extend(game_lm, tmp_path):
    g = get_game("rps")
    recs, rf = run_model(game_lm, g, games=3, rounds=3, seed=0, out=tmp_path, batch_size=2)
    lines = rf.path.read_text().splitlines()
    kinds = [json.loads(x)["type"] for x in lines]
    assert kinds == ["run"] + ["rounds"] * 3 + ["unit"] * 2 + ["rounds"] * 3 + ["unit"]
    # a kill mid-write leaves a torn line: it is skipped; game 2's rounds were all saved before its
    # record, so it is rebuilt from them without a forward
    rf.path.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:25])
    calls = []
    import logitscope.tasks.games.play as games_mod
    real = games_mod.play_batch

    def spy(lm, game, indices, **kw):
        calls.append(list(indices))
        return real(lm, game, indices, **kw)

    games_mod.play_batch = spy
    try:
        again, _ = run_model(game_lm, g, games=5, rounds=3, seed=0, out=tmp_path, batch_size=8)
    finally:
        games_mod.play_batch = real
    assert calls == [[2], [3, 4]]
    assert [r["game"] for r in again] == [0, 1, 2, 3, 4]
    assert again[2] == recs[2]
    # a different setting never mixes with these records
    _, rf2 = run_model(game_lm, g, games=1, rounds=3, seed=1, out=tmp_path)
    assert rf2.path != rf.path


def test_cli_determinism_json(tmp_path):
    r = CliRunner().invoke(main, ["determinism", "--game", "hide-seek", "--model", "uniform", "--games", "40",
                                  "--out", str(tmp_path), "--json"])
    assert r.exit_code == 0, r.output
    row = json.loads(r.output)[0]
    for key in ("model", "game", "games", "rounds", "net_score", "win_rate", "loss_rate", "tie_rate",
                "determinism", "determinism_after", "invalid_mass"):
        assert key in row
    assert set(row["determinism_after"]) == {"win", "loss", "tie"}
    assert row["expected_net_score"] == pytest.approx(71.43, abs=0.01)
    r = CliRunner().invoke(main, ["determinism", "--game", "rps", "--model", "nosuch:model", "--out", str(tmp_path)])
    assert r.exit_code == 1 and r.output.strip().startswith("error:")


def _plain(recs):
    return [{k: v for k, v in r.items() if k not in ("probs", "valid_mass", "invalid_mass", "unexplored_mass")}
            for r in recs]


@pytest.mark.parametrize("adversary", ["exact", "first-token"])
def test_an_interrupted_run_keeps_its_rounds_and_resumes_them(game_lm, tmp_path, monkeypatch, adversary):
    """Ctrl-C in the middle of a batch keeps every round already decided (as `rounds` records); the
    rerun finishes the part-played games from their next round and equals an uninterrupted run."""
    from logitscope.errors import Interrupted
    from logitscope.tasks.games import play
    g = get_game("rps")
    want, _ = run_model(game_lm, g, games=7, rounds=4, seed=2, out=tmp_path / "whole", batch_size=4,
                        adversary=adversary)
    real, calls = play.decide, []

    def interrupt_at(game, own, seen, rng):       # 4 games x 2 rounds of the first batch, then round 3
        calls.append(1)
        if len(calls) == 4 * 2 + 1:
            raise KeyboardInterrupt
        return real(game, own, seen, rng)
    monkeypatch.setattr(play, "decide", interrupt_at)
    with pytest.raises(Interrupted, match="0 of 7 games complete and 4 part-played"):
        run_model(game_lm, g, games=7, rounds=4, seed=2, out=tmp_path / "cut", batch_size=4, adversary=adversary)
    monkeypatch.setattr(play, "decide", real)
    path = next((tmp_path / "cut").rglob("*.jsonl"))
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert [x["type"] for x in lines] == ["run", "rounds", "rounds"]
    assert lines[1]["games"] == [0, 1, 2, 3] and lines[2]["round"] == 1
    assert not list((tmp_path / "cut").rglob("*.lock")) and not list((tmp_path / "cut").rglob("*.owner"))
    resumed = []
    monkeypatch.setattr(play, "decide", lambda *a: resumed.append(1) or real(*a))
    got, _ = run_model(game_lm, g, games=7, rounds=4, seed=2, out=tmp_path / "cut", batch_size=4, adversary=adversary)
    assert len(resumed) == 4 * 2 + 3 * 4            # the part-played games' last 2 rounds, then 3 fresh games
    assert _plain(got) == _plain(want)
    for a, b in zip(got, want):
        for k in ("probs", "valid_mass", "invalid_mass"):
            assert np.allclose(a[k], b[k], atol=1e-6), k


def test_ctrl_c_on_the_command_keeps_rounds_and_the_rerun_resumes(tmp_path):
    """A real SIGINT to `probe determinism`: exit 130 with a message that says what was kept, the
    file holds the rounds played so far, and the same command then finishes the run."""
    import signal
    import subprocess
    import sys
    import time

    from logitscope.testing import save_tiny_lm
    words = DEFAULT_WORDS + ["Move:", " Move:"]
    model = save_tiny_lm(tmp_path / "m", tokenizer=bytelevel_tokenizer(words=words), seed=3, peak=4.0)
    args = ["-m", "logitscope.cli", "determinism", "--model", str(model), "--games", "32", "--rounds", "6",
            "--batch-size", "4", "--out", str(tmp_path / "out"), "--json"]
    # a background job starts with SIGINT ignored, and Python then keeps it ignored: restore the default
    proc = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    folder, deadline = tmp_path / "out" / "determinism-rps", time.time() + 120
    while time.time() < deadline:
        files = list(folder.glob("*.jsonl")) if folder.exists() else []
        if files and files[0].read_text().count('"type": "rounds"') >= 9:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    kept = [json.loads(x) for x in files[0].read_text().splitlines() if x.strip()]
    units = [x for x in kept if x["type"] == "unit"]
    assert "interrupted:" in err and f"{len(units)} of 32 games complete" in err and "rerun" in err
    assert sum(x["type"] == "rounds" for x in kept) >= 9
    assert not list(folder.glob("*.lock")) and not list(folder.glob("*.owner"))
    again = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)[0]["games"] == 32
