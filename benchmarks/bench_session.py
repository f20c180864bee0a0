"""Session engine vs the naive loop on the RPS game conversation (issue: sessions).

100 games x 10 rounds of `probe determinism --game rps`'s conversation on embedded:aligned. Each round every
game needs the next-token distribution after its history.
(a) naive: re-encode each game's whole history every round, one game at a time, full forward;
(b) session: prefill the shared prompt once, forward only each round's new tokens; games whose
    histories are still equal share one cache slot (forwarded once).
Two sets of move histories, each timed both ways:
- `played`: the moves of the model's own 100 games (`play_batch`, seed 0, exact adversary: the
  conversations `probe determinism` really has; played before timing, not timed);
- `uniform`: seeded uniform random moves for both sides, the worst case for sharing.
Prints tokens forwarded, synchronised wall time, the ratio, the largest log-prob difference between
the two (compared on the CPU in float32), achieved TFLOP/s against an n x n matmul's on the model's
device in its dtype (measured in the same run), and the peak memory of each (CUDA allocated and
reserved, or peak RSS). One JSON line per move set (--json-out).

    python benchmarks/bench_session.py [--games 100] [--rounds 10] [--naive-games 100] [--moves played,uniform]
        [--random-weights smollm2-1.7b --device cuda]
"""
from __future__ import annotations

import argparse

import numpy as np

from common import add_model_args, describe, emit, load, memory, peak_tflops, reset_memory, timed
from logitscope.kernels.engine.forward import next_logprobs
from logitscope.kernels.engine.session import Session
from logitscope.tasks.games.play import play_batch
from logitscope.tasks.games.rules import get_game

GAME = get_game("rps")


def turns_of(moves, them, rounds):
    """The RPS conversation of `probe determinism` (tasks/games.py templates) after each round:
    [first turn], [first turn, "Move: m", feedback + next question], ..."""
    turns = [GAME.first_turn(rounds)]
    out = [list(turns)]
    for r, (me, th) in enumerate(zip(moves, them)):
        turns += [f"{GAME.infix} {GAME.moves[me]}", GAME.next_turn(me, th, GAME.outcome(me, th), r + 2, rounds)]
        out.append(list(turns))
    return out


def uniform_games(n, rounds):
    """Seeded uniform random moves for both players."""
    out = []
    for g in range(n):
        rng = np.random.default_rng([g])
        pairs = [(int(rng.integers(3)), int(rng.integers(3))) for _ in range(rounds)]
        out.append(turns_of([a for a, _ in pairs], [b for _, b in pairs], rounds))
    return out


def played_games(lm, n, rounds):
    """The model's own games (seed 0, exact adversary), as `probe determinism` plays them."""
    recs = play_batch(lm, GAME, list(range(n)), rounds=rounds, seed=0)
    idx = {m: i for i, m in enumerate(GAME.moves)}
    return [turns_of([idx[m] for m in r["moves"]], [idx[m] for m in r["adversary"]], rounds) for r in recs]


def flops(model, tokens: int, ctx_sum: int, logit_rows: int) -> float:
    """Matmul FLOPs: the body's weights per token forwarded, attention per (query, key) pair, the
    LM head per row read (embedding tables, tied or not, are not in the body)."""
    cfg = model.config
    tables = {id(model.get_input_embeddings().weight), id(model.get_output_embeddings().weight)}
    body = sum(p.numel() for p in model.parameters() if id(p) not in tables)
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    attn = 4 * cfg.num_hidden_layers * cfg.num_attention_heads * head_dim
    return 2 * body * tokens + attn * ctx_sum + 2 * cfg.hidden_size * cfg.vocab_size * logit_rows


def session_run(lm, games, rounds):
    """(seconds, tokens forwarded, attention context, next-token log-probs per round on the CPU,
    distinct slots per round) of the session way."""
    n = len(games)
    timing = {}
    with timed(lm.input_device, timing):
        s, ctx, lps, slots = _session_rounds(lm, games, rounds, n)
    return timing["seconds"], s.tokens_forwarded, ctx, [x.float().cpu() for x in lps], slots


def _session_rounds(lm, games, rounds, n):
    fmt, tok = lm.format, lm.tokenizer
    s = Session(lm, fmt.encode(tok, games[0][0], GAME.infix), n)
    texts = [fmt.text(tok, games[0][0], GAME.infix)] * n
    lps = [s.logprobs.clone()]
    ctx = len(s.ids[0]) * (len(s.ids[0]) + 1) // 2
    slots = []
    for r in range(1, rounds + 1):
        new = [fmt.text(tok, games[g][r], GAME.infix) for g in range(n)]
        assert all(a.startswith(b) for a, b in zip(new, texts))
        before = [len(x) for x in s.ids]
        s.append_text([a[len(b):] for a, b in zip(new, texts)])
        first = {}
        for i in range(n):           # one row per distinct history: its new tokens' attention context
            first.setdefault(s.slot[i], i)
        ctx += sum(sum(range(before[i] + 1, len(s.ids[i]) + 1)) for i in first.values())
        lps.append(s.logprobs.clone())
        slots.append(s.n_slots)
        texts = new
    return s, ctx, lps, slots


def naive_run(lm, games, rounds, lps):
    fmt, tok = lm.format, lm.tokenizer
    tokens, ctx, worst, timing = 0, 0, 0.0, {}
    with timed(lm.input_device, timing):
        for g in range(len(games)):
            for r in range(rounds + 1):
                ids = fmt.encode(tok, games[g][r], GAME.infix)
                lp = next_logprobs(lm, [ids])[0]                 # float32 on the CPU
                tokens += len(ids)
                ctx += len(ids) * (len(ids) + 1) // 2
                worst = max(worst, float((lp - lps[r][g]).abs().max()))
    return timing["seconds"], tokens, ctx, worst


def main():
    ap = argparse.ArgumentParser()
    add_model_args(ap)
    ap.add_argument("--games", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--naive-games", type=int, default=None, help="time the naive loop on fewer games and scale")
    ap.add_argument("--moves", default="played,uniform", help="played (the model's own games), uniform, or both")
    args = ap.parse_args()
    lm = load(args)
    dev = lm.input_device
    peak = peak_tflops(dev, next(lm.model.parameters()).dtype)
    ng = min(args.naive_games or args.games, args.games)
    base = {**describe(lm), "games": args.games, "rounds": args.rounds, "naive_games_timed": ng, "peak_tflops": peak}
    session_run(lm, uniform_games(2, 1), 1)                   # warm-up
    for kind in args.moves.split(","):
        games = played_games(lm, args.games, args.rounds) if kind == "played" else uniform_games(args.games, args.rounds)
        distinct = [len({tuple(map(tuple, g[r])) for g in games}) for r in range(1, args.rounds + 1)]
        reset_memory(dev)
        t_ses, ses_tokens, ses_ctx, lps, slots = session_run(lm, games, args.rounds)
        ses_mem = memory(dev)
        assert slots == distinct
        reset_memory(dev)
        t_naive, naive_tokens, naive_ctx, worst = naive_run(lm, games[:ng], args.rounds, lps)
        naive_mem = memory(dev)
        scale = args.games / ng
        t_naive, naive_tokens, naive_ctx = t_naive * scale, int(naive_tokens * scale), naive_ctx * scale
        naive_tf = flops(lm.model, naive_tokens, naive_ctx, args.games * (args.rounds + 1)) / t_naive / 1e12
        ses_tf = flops(lm.model, ses_tokens, ses_ctx, sum(slots) + 1) / t_ses / 1e12
        emit(args, "session_vs_naive", {
            **base, "moves": kind, "distinct_histories_per_round": slots,
            "naive_seconds_scaled": t_naive, "naive_tokens": naive_tokens, "naive_tflops": naive_tf,
            "naive_share_of_peak": naive_tf / peak, **{f"naive_{k}": v for k, v in naive_mem.items()},
            "session_seconds": t_ses, "session_tokens": ses_tokens, "session_tflops": ses_tf,
            "session_share_of_peak": ses_tf / peak, **{f"session_{k}": v for k, v in ses_mem.items()},
            "speedup": t_naive / t_ses, "tokens_ratio": naive_tokens / ses_tokens, "max_logprob_diff": worst})


if __name__ == "__main__":
    main()
