"""Playing games in batches: all games of a batch share one KV-cache session (the rules are
prefilled once, each round forwards only its new tokens); per-game records are appended to the
model's result file as they finish, so a rerun resumes.

Randomness: game g draws from its own generator `row_rng(seed, g)`, two numbers per round (the
model's move, then the adversary's tie-break), so a game's moves do not depend on batch size,
chunking, which other games ran, or how many processes shared the work.
"""
from __future__ import annotations

from ...errors import UserError
from .rules import Game, _renorm, decide


def play_batch(lm, game: Game, indices: list[int], *, rounds: int, seed: int, adversary: str = "exact",
               min_mass: float = 1e-4, on_round=None) -> list[dict]:
    """Play the games `indices` together (one session row each); returns one record per game."""
    from ...kernels.engine.answers import uniform_dist
    from ...kernels.engine.sampling import row_rng

    if adversary not in ("exact", "first-token"):
        raise UserError(f"unknown adversary '{adversary}'; choose exact or first-token")
    n, space = len(indices), game.space
    rngs = [row_rng(seed, g) for g in indices]
    recs = [{"game": g, "moves": [], "adversary": [], "outcomes": [], "probs": [], "valid_mass": [],
             "invalid_mass": [], "unexplored_mass": []}
            for g in indices]
    oracle = getattr(lm, "is_oracle", False)
    turns = [[game.first_turn(rounds)] for _ in range(n)]
    if not oracle:
        from ...kernels.engine.session import Session
        tok, fmt = lm.tokenizer, lm.format
        texts = [fmt.text(tok, turns[0], game.infix)] * n
        session = Session(lm, texts[0], n)
    for r in range(rounds):
        if oracle:
            own = seen = [uniform_dist(space)] * n
        else:
            own = session.read_answers(space, min_mass=min_mass)
            seen = own if adversary == "exact" else session.read_answers(space, method="first-token")
        for i in range(n):
            me, them, result, p = decide(game, own[i], seen[i], rngs[i])
            rec = recs[i]
            rec["moves"].append(game.moves[me])
            rec["adversary"].append(game.moves[them])
            rec["outcomes"].append(result)
            rec["probs"].append([round(float(x), 8) for x in p])
            rec["valid_mass"].append(round(own[i].valid_mass, 8))
            rec["invalid_mass"].append(round(own[i].invalid_mass, 8))
            rec["unexplored_mass"].append(round(own[i].unexplored_mass, 10))
            if not own[i].valid_mass > 0:   # nothing valid was reached: the move was drawn uniformly
                rec["no_valid_rounds"] = rec.get("no_valid_rounds", 0) + 1
            if adversary == "first-token":
                rec.setdefault("adversary_probs", []).append([round(float(x), 8) for x in _renorm(seen[i], len(p))[0]])
            turns[i] += [f"{game.infix} {game.moves[me]}", game.next_turn(me, them, result, r + 2, rounds)]
        if on_round:
            on_round(n)
        if r + 1 < rounds and not oracle:
            new = [fmt.text(tok, t, game.infix) for t in turns]
            if not all(a.startswith(b) for a, b in zip(new, texts)):
                raise UserError(f"format '{fmt.name}' re-renders earlier turns when a turn is added, so the "
                                "conversation cannot grow in a KV cache; use --format raw, tulu or llama3-instruct")
            session.append_text([a[len(b):] for a, b in zip(new, texts)])
            texts = new
    return recs


def longest_game(lm, game: Game, rounds: int) -> int:
    """Tokens of the longest conversation a game can reach (longest moves and feedback every
    round) plus the answer tree's steps: checked against the model's limit before playing."""
    from ...kernels.engine.answers import MAX_STEPS
    me = max(range(len(game.moves)), key=lambda i: len(game.moves[i]))
    outcome = max(game.feedback, key=lambda o: len(game.feedback[o]))
    turns = [game.first_turn(rounds)]
    for r in range(rounds - 1):
        turns += [f"{game.infix} {game.moves[me]}", game.next_turn(me, me, outcome, r + 2, rounds)]
    return len(lm.encode(turns, game.infix)) + MAX_STEPS + 1


def default_batch(lm, rounds: int) -> int:
    """Games per session: what fits in half the free memory, at most 128."""
    if getattr(lm, "is_oracle", False):
        return 512
    from ...kernels.engine.session import rows_per_chunk
    return max(1, min(128, rows_per_chunk(lm, 120 + 45 * rounds)))


def run_model(lm, game: Game, *, games: int, rounds: int, seed: int, out, adversary="exact", batch_size=None,
              min_mass=1e-4, indices=None, rank=None, progress=None) -> tuple[list[dict], "ResultFile"]:
    """Play `games` games (or only `indices`) for one model, resuming from its result file.
    Returns all its game records (sorted by game index) and the file."""
    from ..results import ResultFile, append, model_config, provenance

    config = {"task": "determinism", "game": game.name, "rounds": rounds, "seed": seed, "adversary": adversary,
              "min_mass": min_mass, "templates": game.templates(), **model_config(lm)}
    rf = ResultFile(out, f"determinism-{game.name}", lm.spec, config, rank=rank)
    done = rf.done("game")
    todo = [g for g in (range(games) if indices is None else indices) if g not in done]
    if todo and not getattr(lm, "is_oracle", False):
        from ...kernels.engine.forward import check_length
        need = longest_game(lm, game, rounds)
        check_length(lm, need, f"a {rounds}-round {game.name} game (up to {need} tokens)")
    if progress:
        progress.update((games if indices is None else len(indices)) - len(todo))
    if todo:
        batch = batch_size or default_batch(lm, rounds)
        with rf.open({"provenance": provenance(lm, seed)}) as fh:
            for s in range(0, len(todo), batch):
                chunk = todo[s:s + batch]
                recs = play_batch(lm, game, chunk, rounds=rounds, seed=seed, adversary=adversary,
                                  min_mass=min_mass, on_round=(lambda k: progress.update(k / rounds)) if progress else None)
                append(fh, recs)
                for rec in recs:
                    done[rec["game"]] = rec
    wanted = range(games) if indices is None else indices
    return [done[g] for g in sorted(set(wanted))], rf
