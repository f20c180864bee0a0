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
Prints tokens forwarded, wall time, the ratio, the largest log-prob difference between the two,
and achieved GFLOP/s against this CPU's fp32 matmul peak measured in the same run.

    python benchmarks/bench_session.py [--games 100] [--rounds 10] [--naive-games 100] [--moves played,uniform]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from logitscope.kernels.engine.forward import next_logprobs
from logitscope.kernels.models.loading import load_model
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


def session_run(lm, games, rounds):
    fmt, tok = lm.format, lm.tokenizer
    n = len(games)
    t = time.perf_counter()
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
    seconds = time.perf_counter() - t
    return seconds, s.tokens_forwarded, ctx, lps, slots


def naive_run(lm, games, rounds, lps):
    fmt, tok = lm.format, lm.tokenizer
    t = time.perf_counter()
    tokens, ctx, worst = 0, 0, 0.0
    for g in range(len(games)):
        for r in range(rounds + 1):
            ids = fmt.encode(tok, games[g][r], GAME.infix)
            lp = next_logprobs(lm, [ids])[0]
            tokens += len(ids)
            ctx += len(ids) * (len(ids) + 1) // 2
            worst = max(worst, float((lp - lps[r][g]).abs().max()))
    return time.perf_counter() - t, tokens, ctx, worst


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="embedded:aligned")
    ap.add_argument("--games", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--naive-games", type=int, default=None, help="time the naive loop on fewer games and scale")
    ap.add_argument("--moves", default="played,uniform", help="played (the model's own games), uniform, or both")
    args = ap.parse_args()
    lm = load_model(args.model)
    peak = peak_gflops()
    ng = args.naive_games or args.games
    lines = []
    for kind in args.moves.split(","):
        games = played_games(lm, args.games, args.rounds) if kind == "played" else uniform_games(args.games, args.rounds)
        distinct = [len({tuple(map(tuple, g[r])) for g in games}) for r in range(1, args.rounds + 1)]
        t_ses, ses_tokens, ses_ctx, lps, slots = session_run(lm, games, args.rounds)
        assert slots == distinct
        t_naive, naive_tokens, naive_ctx, worst = naive_run(lm, games[:ng], args.rounds, lps)
        scale = args.games / ng
        t_naive, naive_tokens, naive_ctx = t_naive * scale, int(naive_tokens * scale), naive_ctx * scale
        naive_flops = flops(lm.model, naive_tokens, naive_ctx, args.games * (args.rounds + 1))
        ses_flops = flops(lm.model, ses_tokens, ses_ctx, sum(slots) + 1)
        lines.append((kind, t_naive, naive_tokens, naive_flops, t_ses, ses_tokens, ses_flops, worst, slots))

    print(f"\n{args.model}: {args.games} games x {args.rounds} rounds (+ the opening position); "
          f"fp32 matmul peak {peak:.0f} GFLOP/s")
    scaled = f" (timed on {ng} games, scaled)" if ng != args.games else ""
    for kind, t_naive, naive_tokens, naive_flops, t_ses, ses_tokens, ses_flops, worst, slots in lines:
        print(f"\n-- moves: {kind}; distinct histories per round {slots}")
        print(f"(a) naive    {t_naive:8.1f} s  {naive_tokens:8d} tokens forwarded  "
              f"{naive_flops / t_naive / 1e9:6.1f} GFLOP/s = {naive_flops / t_naive / 1e9 / peak:.0%} of peak{scaled}")
        print(f"(b) session  {t_ses:8.1f} s  {ses_tokens:8d} tokens forwarded  "
              f"{ses_flops / t_ses / 1e9:6.1f} GFLOP/s = {ses_flops / t_ses / 1e9 / peak:.0%} of peak")
        print(f"ratio: session is {t_naive / t_ses:.1f}x faster, forwards {naive_tokens / ses_tokens:.1f}x fewer tokens; "
              f"max |log-prob difference| {worst:.2e}")


if __name__ == "__main__":
    main()
