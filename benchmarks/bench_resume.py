"""Resuming `probe determinism` against starting over, in one run (issue 35.7).

(a) fresh: `run_model` (what `probe determinism` runs), `--games` x `--rounds`, timed;
(b) interrupted: the same command stopped once `--fraction` of its game-rounds are decided (Ctrl-C:
    the rounds decided so far are kept as `rounds` records), not timed as part of the comparison;
(c) resume: the same command again on (b)'s file, timed: the part-played games' caches rebuilt from
    their saved rounds, then the rounds left.
Printed: both times, resume / fresh, resume / (fresh x the share of game-rounds left), and resume /
the fresh run's own time for the rounds left (from its decision after the kept rounds to its end:
later rounds cost more than their share, with more distinct games and longer histories), the
rounds kept, the tokens each forwarded into its sessions (load-independent: the rebuild's cost beside
the fresh run's), and whether the resumed games equal the fresh ones record for record.

    python benchmarks/bench_resume.py --model embedded:base --games 40 --rounds 10
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from common import add_model_args, describe, emit, load, timed


def counting_sessions():
    """Sessions made from now on (their `tokens_forwarded` summed by the caller)."""
    from logitscope.kernels.engine import session
    made, base = [], session.Session

    class Counted(base):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            made.append(self)
    session.Session = Counted
    return made


def watch_decisions(stop_after: int | None = None):
    """Make `play.decide` note when each decision is made (perf_counter) and, with `stop_after`, raise
    KeyboardInterrupt (Ctrl-C) at the decision after it; returns (the times, the undo)."""
    from logitscope.tasks.games import play
    real, times = play.decide, []

    def decide(*a):
        if stop_after is not None and len(times) >= stop_after:
            raise KeyboardInterrupt
        got = real(*a)
        times.append(time.perf_counter())
        return got
    play.decide = decide
    return times, lambda: setattr(play, "decide", real)


def kept_rounds(folder: Path, rounds: int) -> int:
    """Game-rounds the interrupted run's file holds (complete games' and part-played games' rounds)."""
    recs = [json.loads(line) for f in folder.rglob("*.jsonl") for line in f.read_text().splitlines()]
    done = {r["game"] for r in recs if r["type"] == "unit"}
    part = {(g, r["round"]) for r in recs if r["type"] == "rounds" for g in r["games"] if g not in done}
    return len(done) * rounds + len(part)


def main():
    ap = argparse.ArgumentParser()
    add_model_args(ap, default_model="embedded:base")
    ap.add_argument("--game", default="rps")
    ap.add_argument("--games", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--fraction", type=float, default=0.5, help="share of the game-rounds decided before the interruption")
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--min-mass", type=float, default=1e-4)
    args = ap.parse_args()
    from logitscope import progress
    from logitscope.errors import Interrupted
    from logitscope.tasks.games.play import run_model
    from logitscope.tasks.games.rules import get_game
    progress.set_quiet(True)
    lm = load(args)
    game, dev = get_game(args.game), lm.input_device
    play = dict(games=args.games, rounds=args.rounds, seed=0, batch_size=args.batch_size, min_mass=args.min_mass)
    made = counting_sessions()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        run_model(lm, game, **{**play, "games": 2, "rounds": 1}, out=out / "warm")   # kernels, the answer index
        fresh_t, resume_t = {}, {}
        made.clear()
        stamps, undo = watch_decisions()
        try:
            with timed(dev, fresh_t):
                fresh, _ = run_model(lm, game, **play, out=out / "fresh")
            end = time.perf_counter()
        finally:
            undo()
        fresh_tokens = sum(s.tokens_forwarded for s in made)
        _, undo = watch_decisions(stop_after=round(args.games * args.rounds * args.fraction))
        try:
            run_model(lm, game, **play, out=out / "cut")
        except Interrupted:
            pass
        finally:
            undo()
        kept = kept_rounds(out / "cut", args.rounds)
        made.clear()
        with timed(dev, resume_t):
            resumed, _ = run_model(lm, game, **play, out=out / "cut")
        resume_tokens = sum(s.tokens_forwarded for s in made)
    left = 1 - kept / (args.games * args.rounds)
    fresh_left = end - stamps[kept - 1] if kept else fresh_t["seconds"]     # after the kept rounds' last decision
    strip = lambda recs: [{k: v for k, v in r.items() if k != "type"} for r in recs]  # noqa: E731
    row = {**describe(lm), "game": game.name, "games": args.games, "rounds": args.rounds,
           "fresh_seconds": fresh_t["seconds"], "resume_seconds": resume_t["seconds"], "rounds_kept": kept,
           "fraction_left": left, "resume_over_fresh": resume_t["seconds"] / fresh_t["seconds"],
           "resume_over_fresh_left": resume_t["seconds"] / (fresh_t["seconds"] * left) if left else None,
           "fresh_rounds_left_seconds": fresh_left, "resume_over_fresh_rounds_left": resume_t["seconds"] / fresh_left,
           "fresh_tokens": fresh_tokens, "resume_tokens": resume_tokens,
           "resume_tokens_over_fresh": resume_tokens / fresh_tokens if fresh_tokens else None,
           "identical_games": strip(resumed) == strip(fresh)}
    emit(args, "resume_vs_fresh", row)


if __name__ == "__main__":
    main()
