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


ROUND_KEYS = ("moves", "adversary", "outcomes", "probs", "valid_mass", "invalid_mass", "unexplored_mass")


def new_record(g: int) -> dict:
    return {"game": g, **{k: [] for k in ROUND_KEYS}}


def add_round(rec: dict, data: dict) -> None:
    """Append one round's data (one value per `ROUND_KEYS` key, plus `no_valid` and, with the
    first-token adversary, `adversary_probs`) to a game record."""
    for k in ROUND_KEYS:
        rec[k].append(data[k])
    if data.get("no_valid"):          # nothing valid was reached: the move was drawn uniformly
        rec["no_valid_rounds"] = rec.get("no_valid_rounds", 0) + 1
    if "adversary_probs" in data:
        rec.setdefault("adversary_probs", []).append(data["adversary_probs"])


def history(game: Game, rec: dict, rounds: int) -> list[str]:
    """The conversation's turns after the rounds a record holds (ending with the next question)."""
    turns = [game.first_turn(rounds)]
    for j, (me, them, result) in enumerate(zip(rec["moves"], rec["adversary"], rec["outcomes"])):
        i, k = game.moves.index(me), game.moves.index(them)
        turns += [f"{game.infix} {me}", game.next_turn(i, k, result, j + 2, rounds)]
    return turns


def play_batch(lm, game: Game, indices: list[int], *, rounds: int, seed: int, adversary: str = "exact",
               min_mass: float = 1e-4, played: dict | None = None, on_round=None) -> list[dict]:
    """Play the games `indices` together (one session row each); returns one record per game.

    `played` holds part-played records of these games (all with the same number of rounds done,
    e.g. saved before an interruption): they go on from there, each game's generator advanced past
    the two draws per round those rounds used. Their cache is rebuilt by appending the saved rounds
    one by one, as they were played (without the readouts): a history that several games share is
    forwarded once, as in an uninterrupted run (one append of each game's whole history forwarded
    every shared turn again for every game: a resume cost more than a fresh run), and the appends
    are those of the uninterrupted run, so a resumed game plays what it would have played, with the
    same numbers.
    `on_round(r, indices, data)` gets each round's data per game as soon as it is decided."""
    from ...kernels.engine.answers import uniform_dist
    from ...kernels.engine.sampling import row_rng

    if adversary not in ("exact", "first-token"):
        raise UserError(f"unknown adversary '{adversary}'; choose exact or first-token")
    n, space = len(indices), game.space
    recs = [_copy((played or {}).get(g)) or new_record(g) for g in indices]
    start = len(recs[0]["moves"])
    if any(len(r["moves"]) != start for r in recs):
        raise ValueError("play_batch: part-played games must have played the same number of rounds")
    if start >= rounds:                         # every round was saved before the record was
        return recs
    rngs = [row_rng(seed, g) for g in indices]
    for rng in rngs:
        rng.random(2 * start)                   # the draws of the rounds already played
    oracle = getattr(lm, "is_oracle", False)
    turns = [history(game, r, rounds) for r in recs]
    if not oracle:
        from ...kernels.engine.session import Session
        tok, fmt = lm.tokenizer, lm.format
        first = fmt.text(tok, turns[0][:1], game.infix)
        session = Session(lm, first, n)
        texts = [first] * n
        for r in range(start):                  # the saved rounds, appended as they were played
            texts = _grow(session, fmt, tok, game, [t[:2 * r + 3] for t in turns], texts)
    for r in range(start, rounds):
        if oracle:
            own = seen = [uniform_dist(space)] * n
        else:
            own = session.read_answers(space, min_mass=min_mass)
            seen = own if adversary == "exact" else session.read_answers(space, method="first-token")
        datas = []
        for i in range(n):
            me, them, result, p = decide(game, own[i], seen[i], rngs[i])
            data = {"moves": game.moves[me], "adversary": game.moves[them], "outcomes": result,
                    "probs": [round(float(x), 8) for x in p], "valid_mass": round(own[i].valid_mass, 8),
                    "invalid_mass": round(own[i].invalid_mass, 8),
                    "unexplored_mass": round(own[i].unexplored_mass, 10), "no_valid": not own[i].valid_mass > 0}
            if adversary == "first-token":
                data["adversary_probs"] = [round(float(x), 8) for x in _renorm(seen[i], len(p))[0]]
            add_round(recs[i], data)
            datas.append(data)
            turns[i] += [f"{game.infix} {game.moves[me]}", game.next_turn(me, them, result, r + 2, rounds)]
        if on_round:
            on_round(r, indices, datas)
        if r + 1 < rounds and not oracle:
            texts = _grow(session, fmt, tok, game, turns, texts)
    return recs


def _copy(rec):
    return None if rec is None else {k: (list(v) if isinstance(v, list) else v) for k, v in rec.items()}


def _grow(session, fmt, tok, game, turns, texts) -> list[str]:
    """Append each row's new turns to the session; returns the rows' texts."""
    new = [fmt.text(tok, t, game.infix) for t in turns]
    if not all(a.startswith(b) for a, b in zip(new, texts)):
        raise UserError(f"format '{fmt.name}' re-renders earlier turns when a turn is added, so the "
                        "conversation cannot grow in a KV cache; use --format raw, tulu or llama3-instruct")
    session.append_text([a[len(b):] for a, b in zip(new, texts)])
    return new


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
              min_mass=1e-4, indices=None, rank=None, progress=None) -> tuple[list[dict], object]:
    """Play `games` games (or only `indices`) for one model, resuming from its result file.
    Returns all its game records (sorted by game index) and its `ResultFile`.

    Each round of the games in flight is saved as it is decided (one `rounds` record per batch and
    round), so an interruption loses at most the round in progress; a rerun finishes part-played
    games from their next round, then plays the rest, and says what it reused. Ctrl-C ends with
    `Interrupted`, whose message says what was kept. `progress` (a `progress.Bar` of
    `games x rounds` rounds) ticks once per round of the batch in flight and says the games done."""
    from ... import progress as news
    from ...errors import Interrupted
    from ..results import ResultFile, append, model_config, provenance, write_record

    config = {"task": "determinism", "game": game.name, "rounds": rounds, "seed": seed, "adversary": adversary,
              "min_mass": min_mass, "templates": game.templates(), **model_config(lm)}
    rf = ResultFile(out, f"determinism-{game.name}", lm.spec, config, rank=rank)
    done = rf.done("game")
    wanted = list(range(games)) if indices is None else list(indices)
    played = {g: rec for g, rec in part_played(rf, done).items() if g in set(wanted)}
    todo = [g for g in wanted if g not in done]
    rf.wanted = len(wanted)
    if todo and not getattr(lm, "is_oracle", False):
        from ...kernels.engine.forward import check_length
        need = longest_game(lm, game, rounds)
        check_length(lm, need, f"a {rounds}-round {game.name} game (up to {need} tokens)")
    if rank in (None, 0) and (len(todo) < len(wanted) or played):
        news.note(f"{lm.spec} {game.name}: " + reused_games(len(wanted) - len(todo), len(wanted), len(played),
                                                             len(todo), len(done)))

    def games_done():
        if progress:
            progress.also(f"games done {sum(g in done for g in wanted)}/{len(wanted)}")
    if progress:
        progress.update((len(wanted) - len(todo)) * rounds + sum(len(r["moves"]) for r in played.values()))
        games_done()
    if not todo:
        return [done[g] for g in sorted(set(wanted))], rf
    batch = batch_size or default_batch(lm, rounds)
    # part-played games first, grouped by rounds done; then fresh games in batches
    groups: dict[int, list] = {}
    for g in todo:
        groups.setdefault(len(played[g]["moves"]) if g in played else 0, []).append(g)
    chunks = [c[s:s + batch] for k in sorted(groups, reverse=True) for c in [groups[k]] for s in range(0, len(c), batch)]
    fh = rf.open({"provenance": provenance(lm, seed)})

    def save_round(r, chunk, datas):
        cols = {k: [d[k] for d in datas] for k in (*ROUND_KEYS, "no_valid", "adversary_probs") if k in datas[0]}
        write_record(fh, {"type": "rounds", "round": r, "games": list(chunk), **cols})
        for g in chunk:
            saved[g] = r + 1
        if progress:
            progress.update(len(chunk))
    saved = {g: len(rec["moves"]) for g, rec in played.items()}
    try:
        with fh:
            for chunk in chunks:
                recs = play_batch(lm, game, chunk, rounds=rounds, seed=seed, adversary=adversary, min_mass=min_mass,
                                  played=played, on_round=save_round)
                append(fh, recs)
                for rec in recs:
                    done[rec["game"]] = rec
                games_done()
    except BaseException as exc:                         # stopped: let the file go (its records stay)
        rf.release()
        if not isinstance(exc, KeyboardInterrupt):
            raise
        part = sum(1 for g, k in saved.items() if g not in done and k > 0)
        raise Interrupted(f"interrupted: {sum(g in done for g in wanted)} of {len(wanted)} games complete and {part} "
                          f"part-played (their rounds so far) kept in {rf.path}; rerun the same command to "
                          "resume") from None
    return [done[g] for g in sorted(set(wanted))], rf


def reused_games(kept: int, wanted: int, part: int, todo: int, in_file: int) -> str:
    """'30 of 50 games reused, 4 part-played go on from their saved rounds, 16 to play (the file holds 60)'."""
    from ...progress import reused
    text = reused(kept, wanted, "games")
    if part:
        text += f", {part} part-played go on from their saved rounds"
    if todo - part > 0:
        text += f", {todo - part} to play"
    if in_file > kept:
        text += f" (the file holds {in_file})"
    return text


def part_played(rf, done: dict) -> dict:
    """{game: record of the rounds saved so far} for the games with `rounds` records and no unit
    record (rounds are taken in order; a round saved twice counts once)."""
    out: dict = {}
    for line in rf.records("rounds"):
        r = line["round"]
        for k, g in enumerate(line["games"]):
            if g in done:
                continue
            rec = out.setdefault(g, new_record(g))
            if len(rec["moves"]) == r:
                add_round(rec, {key: line[key][k] for key in (*ROUND_KEYS, "no_valid", "adversary_probs")
                                if key in line})
    return {g: rec for g, rec in out.items() if rec["moves"]}
