"""`probe determinism` against the naive per-game loop, on any device (issue: GPU).

(a) logitscope: `run_model` (what `probe determinism` runs): `--games` games of `--rounds` rounds in
    one KV-cache session, each round forwarding only its new turn, exact move readouts batched over
    the games, records written as they go;
(b) naive: what a user of `answer_distribution` would write: one game at a time, every round the
    whole conversation encoded again and its exact move distribution read from scratch; timed on
    `--naive-games` games and scaled to `--games`. Both play the same seeded games (same move draws),
    so the share of identical games and the largest move-probability difference are printed too.
With --random-weights the moves' first tokens are steered to --answer-mass of the first turn's
next-token mass (common.steer_answers: a random model gives them none, and each readout would end
after one forward). Also: peak memory during (a) (CUDA allocated and reserved, their ratio; or peak RSS), and with
--random-weights the memory `probe plan` predicts for this batch (weights + games x KV per game, for
the shape with its --override fields) against the measured CUDA peaks.

    python benchmarks/bench_determinism.py --random-weights smollm2-1.7b --device cuda [--games 100]
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from common import add_answer_args, add_model_args, describe, emit, load, memory, overrides, reset_memory, steer_answers, timed


def naive(lm, game, indices, rounds, seed, min_mass):
    from logitscope.kernels.engine.answers import answer_distribution
    from logitscope.kernels.engine.sampling import row_rng
    from logitscope.tasks.games.rules import decide
    out = []
    for g in indices:
        rng, turns, moves, probs = row_rng(seed, g), [game.first_turn(rounds)], [], []
        for r in range(rounds):
            d = answer_distribution(lm, lm.encode(turns, game.infix), game.space, min_mass=min_mass)
            me, them, result, p = decide(game, d, d, rng)
            moves.append(game.moves[me])
            probs.append(p)
            turns += [f"{game.infix} {game.moves[me]}", game.next_turn(me, them, result, r + 2, rounds)]
        out.append((moves, probs))
    return out


def planned(args, mem) -> dict:
    """What `probe plan` predicts for this batch on the shape (with its overrides): weights + games
    in the batch x KV per game, against the measured peak."""
    from logitscope.kernels.models.plan import plan, shipped_config
    with tempfile.TemporaryDirectory() as d:
        cfg = Path(d) / "config.json"
        cfg.write_text(json.dumps({**shipped_config(args.random_weights), **overrides(args.override)}))
        p = plan(str(cfg), quantize=args.quantize or "none", games=args.games, rounds=args.rounds)
    batch = args.batch_size or min(args.games, 128)
    predicted = (p["weight_bytes"][p["quantize"]] + batch * p["kv_bytes_per_game"]) / 2 ** 20
    out = {"plan_predicted_mib": predicted, "plan_weights_mib": p["weight_bytes"][p["quantize"]] / 2 ** 20,
           "plan_kv_mib_per_game": p["kv_bytes_per_game"] / 2 ** 20, "plan_games_per_batch_80gib": p["games_per_batch"]}
    measured = mem.get("cuda_peak_allocated_mib")
    if measured:
        out["plan_over_measured_allocated"] = predicted / measured
        out["plan_over_measured_reserved"] = predicted / mem["cuda_peak_reserved_mib"]
    return out


def main():
    ap = argparse.ArgumentParser()
    add_model_args(ap)
    add_answer_args(ap)
    ap.add_argument("--game", default="rps")
    ap.add_argument("--games", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--naive-games", type=int, default=10, help="games the naive loop plays (time scaled)")
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--min-mass", type=float, default=1e-4)
    args = ap.parse_args()
    from logitscope.tasks.games.play import run_model
    from logitscope.tasks.games.rules import get_game
    lm = load(args)
    game = get_game(args.game)
    dev = lm.input_device
    base = {**describe(lm), "game": game.name, "games": args.games, "rounds": args.rounds}
    if args.random_weights and args.answer_mass:
        base.update(steer_answers(lm, lm.encode([game.first_turn(args.rounds)], game.infix), game.space, args.answer_mass))
    batch = args.batch_size or min(args.games, 128)
    with tempfile.TemporaryDirectory() as out:          # warm-up: CUDA kernels, the answer space's index
        run_model(lm, game, games=min(2, args.games), rounds=1, seed=1, out=out, batch_size=batch, min_mass=args.min_mass)
    reset_memory(dev)
    t_ours = {}
    with tempfile.TemporaryDirectory() as out, timed(dev, t_ours):
        recs, _ = run_model(lm, game, games=args.games, rounds=args.rounds, seed=0, out=out,
                            batch_size=batch, min_mass=args.min_mass)
    mem = memory(dev)
    t_naive = {}
    k = min(args.naive_games, args.games)
    with timed(dev, t_naive):
        slow = naive(lm, game, list(range(k)), args.rounds, 0, args.min_mass)
    scaled = t_naive["seconds"] * args.games / k
    same = sum(recs[g]["moves"] == slow[g][0] for g in range(k))
    diff = max(float(np.abs(np.array(recs[g]["probs"]) - np.array(slow[g][1])).max()) for g in range(k))
    row = {**base, "seconds": t_ours["seconds"], "naive_seconds_scaled": scaled, "naive_games_timed": k,
           "speedup": scaled / t_ours["seconds"], "identical_games": same, "max_prob_diff": diff, **mem}
    if "cuda_peak_allocated_mib" in mem:
        row["reserved_over_allocated"] = mem["cuda_peak_reserved_mib"] / mem["cuda_peak_allocated_mib"]
    if args.random_weights:
        row.update(planned(args, mem))
    emit(args, "determinism_vs_naive", row)


if __name__ == "__main__":
    main()
