"""Fault injection: `probe determinism` on a tiny model saved to a directory is killed with SIGKILL at
random instants (drawn from a seeded RNG: the file size it has reached, a fraction of the whole
run's), and in half the trials its result file is then cut at a
random byte offset (a write cut short); the same command is rerun. Every trial must end as an
uninterrupted run does: exit 0, every line whole JSON, one unit record per game (none lost, none
duplicated, no round saved twice), the same game records and the same summary.

Each run is a process of its own, killed like any other: forked from a `multiprocessing` fork server
that imported torch, transformers and the CLI once (never running torch itself), so a start costs
the model's load, not the imports; the uninterrupted reference is also run as `python -m
logitscope.cli determinism` and must equal the forked one. One torch thread each: a tiny model's
steps are too small to share, and two threads on busy cores wait on each other (a step 50x slower).

What must be identical: everything but the timing and the path of the summary. Rounds saved
before a kill are copied from the file; a part-played game's cache is rebuilt with the appends
the uninterrupted run made (its saved rounds one by one, the same games together: `play_batch`),
so its later rounds read the same numbers. (A cache rebuilt in one append of each game's whole
history summed the same numbers in another order: probabilities off in the last float32 bits,
3e-6 on embedded:aligned; they decide the draws, so they must match too.)

LOGITSCOPE_FAULT_TRIALS=N runs N trials (default 16: under a minute on 2 busy cores).
"""
import json
import multiprocessing
import os
import random
import subprocess
import sys
import time

import pytest

from logitscope.testing import DEFAULT_WORDS, bytelevel_tokenizer, save_tiny_lm

TRIALS = int(os.environ.get("LOGITSCOPE_FAULT_TRIALS", "16"))
TIMING = ("seconds", "results")                  # how long, and where: not what was computed


def _probe(args, log):
    """A fork-server child: `probe ARGS` with its stdout and stderr in `log`."""
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    import torch
    torch.set_num_threads(1)                     # as OMP_NUM_THREADS=1 in the reference below
    from logitscope.cli.main import main
    try:
        main(args, prog_name="probe")
    except SystemExit as exc:
        os._exit(exc.code if isinstance(exc.code, int) else 1)
    os._exit(0)


def _nothing():
    pass


@pytest.fixture(scope="module")
def server():
    """The fork server, started (its imports done) before any run is timed."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["torch", "transformers", "transformers.models.llama.modeling_llama",
                                "logitscope.cli.main", "logitscope.kernels.models.loading"])
    p = ctx.Process(target=_nothing)
    p.start()
    p.join(300)
    return ctx


def _start(ctx, args, log):
    p = ctx.Process(target=_probe, args=(args, str(log)))
    p.start()
    return p


def _run(ctx, args, log) -> None:
    p = _start(ctx, args, log)
    p.join(300)
    assert p.exitcode == 0, log.read_text()


def _kill_at(p, out, size: float) -> None:
    """SIGKILL `p` once its result file holds `size` bytes (at a random point of its writing,
    whatever the machine's speed), or at once when that is 0."""
    deadline = time.monotonic() + 300
    while p.is_alive() and size > 0 and time.monotonic() < deadline:
        files = list(out.glob("determinism-rps/*.jsonl"))
        if files and files[0].stat().st_size >= size:
            break
        time.sleep(0.001)
    p.kill()


def _read(folder):
    """(unit records by game, the last summary, every (game, round) saved) of a run's one result file."""
    files = sorted(folder.glob("determinism-rps/*.jsonl"))
    assert len(files) == 1, files
    text = files[0].read_text(encoding="utf-8")
    assert text.endswith("\n"), "the file ends inside a record"
    recs = [json.loads(line) for line in text.split("\n")[:-1]]                  # every line whole
    units = [r for r in recs if r["type"] == "unit"]
    games = {r["game"]: r for r in units}
    assert len(games) == len(units), "a game recorded twice"
    saved = [(g, r["round"]) for r in recs if r["type"] == "rounds" for g in r["games"]]
    assert len(saved) == len(set(saved)), "a round saved twice"
    return games, [r for r in recs if r["type"] == "summary"][-1], saved


def test_killed_and_cut_runs_resume_to_the_uninterrupted_result(server, tmp_path):
    words = DEFAULT_WORDS + ["Move:", " Move:"]
    model = save_tiny_lm(tmp_path / "m", tokenizer=bytelevel_tokenizer(words=words), seed=3, peak=4.0)
    args = lambda out: ["determinism", "--model", str(model), "--games", "16", "--rounds", "4",  # noqa: E731
                        "--batch-size", "4", "--out", str(out), "--json"]
    whole = subprocess.run([sys.executable, "-m", "logitscope.cli", *args(tmp_path / "exec")], capture_output=True,
                           text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert whole.returncode == 0, whole.stderr
    want, summary, _ = _read(tmp_path / "exec")
    summary = {k: v for k, v in summary.items() if k not in TIMING}
    assert sorted(want) == list(range(16))
    _run(server, args(tmp_path / "ref"), tmp_path / "ref.log")          # the forked command: the same result
    assert _read(tmp_path / "ref")[0] == want
    size = next((tmp_path / "exec").glob("determinism-rps/*.jsonl")).stat().st_size

    rng, kinds = random.Random(35), []
    for t in range(TRIALS):
        out, log = tmp_path / f"t{t}", tmp_path / f"t{t}.log"
        p = _start(server, args(out), log)
        _kill_at(p, out, rng.uniform(0, 1) * size)
        p.join()
        files = list(out.glob("determinism-rps/*.jsonl"))
        cut = rng.random() < 0.5 and files and files[0].stat().st_size
        if cut:
            os.truncate(files[0], rng.randrange(files[0].stat().st_size))
        _run(server, args(out), log)
        games, last, saved = _read(out)
        assert games == want, f"trial {t}: the games differ"
        assert {k: v for k, v in last.items() if k not in TIMING} == summary, f"trial {t}: the summary differs"
        kinds.append(("cut" if cut else "killed") if p.exitcode == -9 else "finished before the kill")
    print(f"{TRIALS} trials: {', '.join(f'{kinds.count(k)} {k}' for k in sorted(set(kinds)))}; all identical")
