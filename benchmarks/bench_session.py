"""Session engine vs the naive loop on the RPS game conversation (issue: sessions).

100 games x 10 rounds of `probe determinism --game rps`'s conversation on embedded:aligned. Each round every
game needs the next-token distribution after its history.
(a) naive: re-encode each game's whole history every round, one game at a time, full forward;
(b) session: prefill the shared prompt once, fork to 100 rows, forward only each round's new tokens.
Prints tokens forwarded, wall time, the ratio, the largest log-prob difference between the two,
and achieved GFLOP/s against this CPU's fp32 matmul peak measured in the same run.

    python benchmarks/bench_session.py [--games 100] [--rounds 10] [--naive-games 100]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from logitscope.kernels.forward import next_logprobs
from logitscope.kernels.loading import load_model
from logitscope.kernels.session import Session
from logitscope.tasks.games import get_game

GAME = get_game("rps")


def game_turns(game: int, rounds: int):
    """The RPS conversation of `probe determinism` (tasks/games.py templates) after each round, with
    seeded stand-in moves: [first turn], [first turn, "Move: m", feedback + next question], ..."""
    rng = np.random.default_rng([game])
    turns = [GAME.first_turn(rounds)]
    out = [list(turns)]
    for r in range(rounds):
        me, them = int(rng.integers(3)), int(rng.integers(3))
        turns += [f"{GAME.infix} {GAME.moves[me]}", GAME.next_turn(me, them, GAME.outcome(me, them), r + 2, rounds)]
        out.append(list(turns))
    return out


def peak_gflops(dtype=torch.float32, n=2048, reps=10):
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    torch.matmul(a, b)
    t = time.perf_counter()
    for _ in range(reps):
        torch.matmul(a, b)
    return 2 * n ** 3 * reps / (time.perf_counter() - t) / 1e9


def flops(model, tokens: int, ctx_sum: int, logit_rows: int) -> float:
    cfg = model.config
    emb = model.get_input_embeddings().weight.numel()
    body = sum(p.numel() for p in model.parameters()) - emb
    attn = 4 * cfg.num_hidden_layers * cfg.num_attention_heads * (cfg.hidden_size // cfg.num_attention_heads)
    return 2 * body * tokens + attn * ctx_sum + 2 * cfg.hidden_size * cfg.vocab_size * logit_rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="embedded:aligned")
    ap.add_argument("--games", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--naive-games", type=int, default=None, help="time the naive loop on fewer games and scale")
    args = ap.parse_args()
    lm = load_model(args.model)
    fmt, tok = lm.format, lm.tokenizer
    games = [game_turns(g, args.rounds) for g in range(args.games)]
    peak = peak_gflops()

    # (b) session
    t = time.perf_counter()
    s = Session(lm, fmt.encode(tok, games[0][0], GAME.infix), args.games)
    texts = [fmt.text(tok, games[0][0], GAME.infix)] * args.games
    ses_lp = [s.logprobs.clone()]
    ctx = len(s.ids[0]) * (len(s.ids[0]) + 1) // 2
    for r in range(1, args.rounds + 1):
        new = [fmt.text(tok, games[g][r], GAME.infix) for g in range(args.games)]
        chunks = [n[len(o):] for n, o in zip(new, texts)]
        assert all(n.startswith(o) for n, o in zip(new, texts))
        before = [len(x) for x in s.ids]
        ses_lp.append(s.append_text(chunks).clone())
        ctx += sum(sum(range(b + 1, len(x) + 1)) for b, x in zip(before, s.ids))
        texts = new
    t_ses = time.perf_counter() - t
    ses_tokens = s.tokens_forwarded
    ses_flops = flops(lm.model, ses_tokens, ctx, args.games * args.rounds + 1)

    # (a) naive
    ng = args.naive_games or args.games
    t = time.perf_counter()
    naive_tokens, naive_ctx, worst = 0, 0, 0.0
    for g in range(ng):
        for r in range(args.rounds + 1):
            ids = fmt.encode(tok, games[g][r], GAME.infix)
            lp = next_logprobs(lm, [ids])[0]
            naive_tokens += len(ids)
            naive_ctx += len(ids) * (len(ids) + 1) // 2
            worst = max(worst, float((lp - ses_lp[r][g]).abs().max()))
    t_naive = (time.perf_counter() - t) * args.games / ng
    naive_tokens = naive_tokens * args.games // ng
    naive_flops = flops(lm.model, naive_tokens, naive_ctx * args.games // ng, args.games * (args.rounds + 1))

    print(f"\n{args.model}: {args.games} games x {args.rounds} rounds (+ the opening position); "
          f"fp32 matmul peak {peak:.0f} GFLOP/s")
    scaled = f" (timed on {ng} games, scaled)" if ng != args.games else ""
    print(f"(a) naive    {t_naive:8.1f} s  {naive_tokens:8d} tokens forwarded  "
          f"{naive_flops / t_naive / 1e9:6.1f} GFLOP/s = {naive_flops / t_naive / 1e9 / peak:.0%} of peak{scaled}")
    print(f"(b) session  {t_ses:8.1f} s  {ses_tokens:8d} tokens forwarded  "
          f"{ses_flops / t_ses / 1e9:6.1f} GFLOP/s = {ses_flops / t_ses / 1e9 / peak:.0%} of peak")
    print(f"ratio: session is {t_naive / t_ses:.1f}x faster, forwards {naive_tokens / ses_tokens:.1f}x fewer tokens; "
          f"max |log-prob difference| {worst:.2e}")


if __name__ == "__main__":
    main()
