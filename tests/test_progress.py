"""What a long run shows and says: bars that tick within a batch and keep their clock running, plain
lines when stderr is not a terminal, reruns that say what they reused, Ctrl-C naming every model's
file, one line for an --out that cannot hold results, and result names that never start with a dot."""
import io
import json
import time

import pytest
from click.testing import CliRunner

from logitscope import progress
from logitscope.cli.main import main
from logitscope.tasks.results import ResultFile, slug
from logitscope.testing import DEFAULT_WORDS, bytelevel_tokenizer, save_tiny_lm, tiny_lm


class Recorder(progress.Bar):
    """A real (hidden) bar that keeps every tick and every 'also' with the count at that moment."""
    made: list = []

    def __init__(self, total, desc, unit="it", initial=0, show=True):
        super().__init__(total, desc, unit, initial, show=False)
        self.events = []
        Recorder.made.append(self)

    def update(self, k=1):
        super().update(k)
        self.events.append(("tick", self.n, self.extra))

    def also(self, text):
        super().also(text)
        self.events.append(("also", self.n, text))


@pytest.fixture
def recorded(monkeypatch):
    Recorder.made = []
    monkeypatch.setattr(progress, "bar", Recorder)
    return Recorder.made


@pytest.fixture(scope="module")
def game_lm():
    return tiny_lm("llama", bytelevel_tokenizer(words=DEFAULT_WORDS), seed=11, peak=4.0)


@pytest.fixture(scope="module")
def game_dir(tmp_path_factory):
    return str(save_tiny_lm(tmp_path_factory.mktemp("g") / "tinym", tokenizer=bytelevel_tokenizer(words=DEFAULT_WORDS),
                            seed=3, peak=4.0))


def _ok(args):
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    return r


def test_determinism_bar_ticks_every_round_of_a_batch_and_counts_games_apart(game_lm, tmp_path, recorded):
    """6 games x 3 rounds in batches of 4: the bar counts rounds (18), ticks after each round of the
    batch in flight while no game is done yet, and says the games done beside them."""
    from logitscope.tasks.games.determinism import run_determinism
    run_determinism([game_lm], "rps", games=6, rounds=3, batch_size=4, out=tmp_path)
    (b,) = recorded
    assert (b.total, b.unit) == (18, "rounds")
    ticks = [(n, extra) for kind, n, extra in b.events if kind == "tick" and n]
    assert ticks == [(4, "games done 0/6"), (8, "games done 0/6"), (12, "games done 0/6"),
                     (14, "games done 4/6"), (16, "games done 4/6"), (18, "games done 4/6")]
    assert b.extra == "games done 6/6" and b.n == b.total


def test_a_resumed_determinism_bar_starts_at_what_the_file_holds(game_lm, tmp_path, recorded):
    from logitscope.tasks.games.determinism import run_determinism
    run_determinism([game_lm], "rps", games=4, rounds=3, batch_size=4, out=tmp_path)
    run_determinism([game_lm], "rps", games=6, rounds=3, batch_size=4, out=tmp_path)
    b = recorded[1]
    assert b.events[0] == ("tick", 12, "") and b.events[1] == ("also", 12, "games done 4/6")
    assert b.n == 18


def test_generation_bar_ticks_on_token_steps(game_lm, tmp_path, recorded):
    """`probe entropy --samples 3`: one batch of 3 samples; the bar moves every token step while no
    sample is done, and the samples done are said beside it."""
    from logitscope.tasks.creativity.entropy import run_entropy
    run_entropy([game_lm], samples=3, max_new_tokens=6, out=tmp_path)
    (b,) = recorded
    assert (b.total, b.unit) == (6, "token steps")
    during = [n for kind, n, extra in b.events if kind == "tick" and extra == "samples done 0/3"]
    assert during[:3] == [1, 2, 3]                      # ticks inside the one batch
    assert b.n == 6 and b.extra == "samples done 3/3"


def test_a_terminal_bar_redraws_while_nothing_finishes(monkeypatch):
    """tqdm redraws only on an update; the bar's own thread redraws it (its clock moves) meanwhile."""
    class Tty(io.StringIO):
        def isatty(self):
            return True
    monkeypatch.setattr(progress, "REDRAW", 0.02)
    out = Tty()
    b = progress.Bar(10, "m rps", "rounds", stream=out)
    b.also("games done 0/1")
    first = out.getvalue().count("\r")
    deadline = time.time() + 10
    while out.getvalue().count("\r") < first + 3 and time.time() < deadline:
        time.sleep(0.02)
    b.close()
    assert out.getvalue().count("\r") >= first + 3
    assert "rounds 0/10" in out.getvalue()


def test_a_log_gets_a_plain_line_every_period(monkeypatch):
    """stderr not a terminal: nothing at first, then 'desc: unit n/total (pct), also, elapsed, left'
    every EVERY seconds, and a last line when the count completes."""
    monkeypatch.setattr(progress, "EVERY", 0.05)
    out = io.StringIO()
    b = progress.Bar(500, "embedded:base rps", "rounds", stream=out)
    assert out.getvalue() == ""
    b.update(230)
    b.also("games done 12/50")
    deadline = time.time() + 10
    while not out.getvalue() and time.time() < deadline:
        time.sleep(0.01)
    line = out.getvalue().splitlines()[0]
    assert line.startswith("embedded:base rps: rounds 230/500 (46%), games done 12/50, 00:0")
    assert "elapsed" in line and "left" in line
    b.update(270)
    b.close()
    assert out.getvalue().splitlines()[-1].startswith("embedded:base rps: rounds 500/500 done in ")
    n = len(out.getvalue().splitlines())
    time.sleep(0.15)
    assert len(out.getvalue().splitlines()) == n        # the thread stopped with the bar


def test_a_short_run_in_a_log_and_quiet_print_nothing(monkeypatch):
    out = io.StringIO()
    with progress.Bar(3, "x", "steps", stream=out) as b:
        b.update(3)
    assert out.getvalue() == ""                         # done before the first period: no line at all
    monkeypatch.setattr(progress, "EVERY", 0.01)
    monkeypatch.setattr(progress, "QUIET", True)
    with progress.Bar(3, "x", "steps", stream=out):
        time.sleep(0.1)
    assert out.getvalue() == ""


@pytest.mark.parametrize("cmd, again, said", [
    (["determinism", "--model", "uniform", "--games", "5", "--rounds", "2"], [],
     "uniform rps: 5 of 5 games reused"),
    (["determinism", "--model", "uniform", "--games", "5", "--rounds", "2"], ["--games", "3"],
     "uniform rps: 3 of 3 games reused (the file holds 5)"),
    (["determinism", "--model", "uniform", "--games", "5", "--rounds", "2"], ["--games", "8"],
     "uniform rps: 5 of 8 games reused, 3 to play"),
    (["integers", "--model", "uniform"], [], "uniform integers: 1 of 1 settings reused"),
    (["letters", "--model", "uniform"], ["--temperature", "1", "--temperature", "2"],
     "uniform letters: 1 of 2 settings reused, 1 to compute"),
    (["sequences", "--model", "uniform", "--samples", "20"], ["--samples", "30"],
     "uniform sequences T=1 top-p=1: 20 of 30 sequences reused, 10 to sample"),
])
def test_every_rerun_says_what_it_reused(tmp_path, cmd, again, said):
    out = ["--out", str(tmp_path)]
    first = _ok(cmd + out)
    assert "reused" not in first.stderr
    assert said in _ok(cmd + out + again).stderr


def test_generation_reruns_say_what_they_reused(game_dir, tmp_path):
    out = ["--out", str(tmp_path)]
    entropy = ["entropy", "--model", game_dir, "--max-new-tokens", "4"]
    _ok(entropy + ["--samples", "2"] + out)
    assert f"{game_dir}: 2 of 3 samples reused, 1 to generate" in _ok(entropy + ["--samples", "3"] + out).stderr
    poems = ["poetry", "generate", "--model", game_dir, "--topic", "coffee", "--per-model", "1", "--max-attempts", "2"]
    _ok(poems + out)
    import json
    draws = [json.loads(x) for f in (tmp_path / "poetry").glob("*.jsonl") for x in open(f)]
    kept = sum(1 for d in draws if d.get("kind") == "draw" and d.get("poem"))       # what the tiny model drew
    r = _ok(poems + out)
    assert f"{game_dir}: {min(kept, 1)} of 1 poems reused (from 2 earlier draws)" in r.stderr


def test_ctrl_c_names_every_models_file_including_the_finished_ones(game_dir, tmp_path, monkeypatch):
    """Two models: the first finishes, Ctrl-C lands in the second's first batch. The message names
    both files and what each kept; the rerun resumes both."""
    from logitscope.tasks.games import play
    real, calls = play.decide, []

    def interrupt(game, own, seen, rng):                 # uniform's 4 x 2 rounds, then one round of the model
        calls.append(1)
        if len(calls) == 4 * 2 + 4 + 1:
            raise KeyboardInterrupt
        return real(game, own, seen, rng)
    monkeypatch.setattr(play, "decide", interrupt)
    args = ["determinism", "--model", "uniform", "--model", game_dir, "--games", "4", "--rounds", "2",
            "--batch-size", "4", "--out", str(tmp_path)]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 130, r.output
    lines = r.stderr.splitlines()
    files = sorted((tmp_path / "determinism-rps").glob("*.jsonl"))
    uni = next(f for f in files if f.name.startswith("uniform-"))
    mine = next(f for f in files if f != uni)
    assert lines[0] == "interrupted: the results written so far are kept:"
    assert lines[1] == f"  uniform: 4 of 4 games complete (finished) in {uni}"
    assert lines[2] == f"  {game_dir}: 0 of 4 games complete and 4 part-played (their rounds so far) in {mine}"
    assert lines[3] == "rerun the same command to resume" and len(lines) == 4
    monkeypatch.setattr(play, "decide", real)
    again = _ok(args)
    assert "uniform rps: 4 of 4 games reused" in again.stderr
    assert f"{game_dir} rps: 0 of 4 games reused, 4 part-played go on from their saved rounds" in again.stderr


@pytest.mark.parametrize("where", ["file", "below-a-file", "unwritable"])
def test_an_out_that_cannot_hold_results_is_one_line(tmp_path, where):
    f = tmp_path / "afile"
    f.write_text("mine\n")
    out = {"file": str(f), "below-a-file": str(f / "sub"), "unwritable": "/proc/nope"}[where]
    r = CliRunner().invoke(main, ["integers", "--model", "uniform", "--out", out])
    assert r.exit_code == 1, r.output
    assert r.output.startswith("error: ") and r.output.count("\n") == 1 and "Traceback" not in r.output, r.output
    assert out in r.output
    if where != "unwritable":
        assert f"{f}: it is a file, not a directory" in r.output
    assert f.read_text() == "mine\n"


def test_result_names_never_start_with_a_dot_nor_hold_a_separator():
    for spec in ("./tinym", "../models/tinym", ".hidden", "-dash", "/abs/path/m", "a\\b", "..", "embedded:base"):
        name = slug(spec)
        assert name and not name.startswith((".", "-")) and "/" not in name and "\\" not in name, (spec, name)
    assert slug("./tinym") == "tinym" and slug("embedded:base") == "embedded_base"


def test_a_path_model_writes_a_visible_file_and_an_old_hidden_one_is_resumed(game_dir, tmp_path, monkeypatch):
    """`--model ./tinym` writes tinym-<hash>.jsonl; a file named the older way (._tinym-<hash>.jsonl)
    is renamed on the next run, which then resumes it."""
    import shutil
    monkeypatch.chdir(tmp_path)
    shutil.copytree(game_dir, tmp_path / "tinym")
    args = ["determinism", "--model", "./tinym", "--games", "3", "--rounds", "2", "--out", "res"]
    _ok(args)
    (made,) = (tmp_path / "res" / "determinism-rps").glob("*.jsonl")
    assert made.name.startswith("tinym-")
    old = made.with_name("._" + made.name)                # as the naming before wrote it
    made.rename(old)
    r = _ok(args + ["--games", "4"])
    assert f"renamed res/determinism-rps/{old.name} to {made.name}" in r.stderr and "./tinym rps: 3 of 4 games reused, 1 to play" in r.stderr
    assert not old.exists() and [p.name for p in made.parent.glob("*.jsonl")] == [made.name]
    assert sum(json.loads(x)["type"] == "unit" for x in made.read_text().splitlines()) == 4


def test_the_legacy_name_is_the_old_slug():
    rf = ResultFile("o", "t", "./tinym", {"a": 1})
    assert rf.stem.startswith("tinym-") and rf.legacy == "._" + rf.stem
    assert ResultFile("o", "t", "embedded:base", {}).legacy == ResultFile("o", "t", "embedded:base", {}).stem


def test_reward_reruns_say_what_they_reused(tmp_path):
    from logitscope.testing import tiny_reward_model
    rm = str(tiny_reward_model(tmp_path / "rm"))
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(json.dumps({"prompt": "Pick", "response": str(i)}) for i in range(3)) + "\n")
    scored = ["reward", "--rm", rm, "--input", str(src)]
    _ok(scored)
    src.write_text(src.read_text() + json.dumps({"prompt": "Pick", "response": "7"}) + "\n")
    assert f"{src}: 3 of 4 records reused, 1 to score" in _ok(scored).stderr
    task = ["reward", "--rm", rm, "--task", "letters", "--out", str(tmp_path / "res")]
    assert "reused" not in _ok(task).stderr
    assert f"{rm} letters: 11 of 11 answer rewards reused" in _ok(task).stderr
