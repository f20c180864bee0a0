"""Games against a greedy adversary (West & Potts 2025, Section 4 / Table 2): rock-paper-scissors
and hide-and-seek, and the determinism probe.

Each round the adversary reads the model's move distribution at the position where the model is
about to answer and plays the best response to the most likely move (hide-and-seek: it searches
the most likely spot). The model's move is then sampled from its own exact move distribution at
temperature 1.0 (full distribution, renormalised over valid moves; the invalid mass is recorded;
in the rare round where no valid move is reached at all, the move is drawn uniformly and the round
is counted in `no_valid_rounds`),
the round's result is told to the model and play goes on. All games of a batch share one KV-cache
session: the rules are prefilled once, and each round forwards only its new tokens.

Randomness: game g draws from its own generator `row_rng(seed, g)`, two numbers per round (the
model's move, then the adversary's tie-break), so a game's moves do not depend on batch size,
chunking, which other games ran, or how many processes shared the work.

The prompt texts below are ours (the study does not publish its exact wording); the structure
follows the study: rules, then per round the history (your move, the opponent's move, the
outcome) and a question, then the format's infix. They are recorded in every result file.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import UserError
from ..kernels.spaces import HIDE_SEEK_SPOTS, RPS_MOVES, hide_seek, rps

# ---------------------------------------------------------------- prompt templates (ours)
RPS_RULES = ("Let's play rock-paper-scissors for {rounds} rounds. In each round we both pick rock, paper "
             "or scissors at the same time: rock beats scissors, scissors beats paper and paper beats rock; "
             "the same move is a tie. Try to win as many rounds as you can. Answer with your move only.")
RPS_QUESTION = "Round {round} of {rounds}. What is your move?"
RPS_FEEDBACK = {"win": "You played {me}, I played {them}. You win this round.",
                "loss": "You played {me}, I played {them}. I win this round.",
                "tie": "You played {me}, I played {them}. It's a tie."}

HS_RULES = ("Let's play hide-and-seek for {rounds} rounds. In each round you hide in one of these seven "
            "places: {spots}. Then I search one place. If I search the place where you are hiding, I find "
            "you and win the round; otherwise you win the round. Try to win as many rounds as you can. "
            "Answer with the place only.")
HS_QUESTION = "Round {round} of {rounds}. Where do you hide?"
HS_FEEDBACK = {"win": "You hid in the {me}, I searched the {them}. I did not find you: you win this round.",
               "loss": "You hid in the {me}, I searched the {them}. I found you: I win this round."}


@dataclass(frozen=True)
class Game:
    name: str
    moves: tuple
    rules: str
    question: str
    feedback: dict
    infix: str

    @property
    def space(self):
        return rps() if self.name == "rps" else hide_seek()

    def counter(self, predicted: int) -> int:
        """The adversary's move against the predicted model move."""
        if self.name == "rps":
            return (predicted + 1) % 3       # rock(0) < paper(1) < scissors(2) < rock
        return predicted                      # search where the model most likely hides

    def outcome(self, me: int, them: int) -> str:
        if self.name == "rps":
            return ("tie", "win", "loss")[(me - them) % 3]
        return "loss" if me == them else "win"

    def first_turn(self, rounds: int) -> str:
        return self.rules.format(rounds=rounds, spots=", ".join(self.moves)) + "\n\n" + \
            self.question.format(round=1, rounds=rounds)

    def next_turn(self, me: int, them: int, outcome: str, round_no: int, rounds: int) -> str:
        """The user's turn after round `round_no - 1`: its result, then the next question."""
        said = self.feedback[outcome].format(me=self.moves[me], them=self.moves[them])
        return said + "\n\n" + self.question.format(round=round_no, rounds=rounds)

    def templates(self) -> dict:
        return {"rules": self.rules, "question": self.question, "feedback": self.feedback, "infix": self.infix,
                "answer": "{infix} {move}"}


GAMES = {
    "rps": Game("rps", tuple(RPS_MOVES), RPS_RULES, RPS_QUESTION, RPS_FEEDBACK, "Move:"),
    "hide-seek": Game("hide-seek", tuple(HIDE_SEEK_SPOTS), HS_RULES, HS_QUESTION, HS_FEEDBACK, "Hiding place:"),
}


def get_game(name: str) -> Game:
    key = "hide-seek" if name in ("hs", "hide-and-seek") else name
    if key not in GAMES:
        raise UserError(f"unknown game '{name}'; choose rps or hide-seek")
    return GAMES[key]


# ---------------------------------------------------------------- one round's decisions
def _pick(p: np.ndarray, u: float) -> int:
    c = np.cumsum(p)
    return int(min(np.searchsorted(c, u * c[-1], side="right"), len(p) - 1))


def _argmax(q: np.ndarray, u: float) -> int:
    """The most likely move; exact ties (the uniform oracle) are broken with the game's own draw."""
    best = np.flatnonzero(q >= q.max() - 1e-12)
    return int(best[min(int(u * len(best)), len(best) - 1)])


def _renorm(d, k: int) -> tuple[np.ndarray, bool]:
    p = np.array(list(d.answers.values()), dtype=np.float64)
    if not p.sum() > 0:
        return np.full(k, 1.0 / k), False
    return p / p.sum(), True


def decide(game: Game, own, seen, rng) -> tuple[int, int, str, np.ndarray]:
    """One round: the model's move sampled from its own distribution `own`, the adversary's
    response to the most likely move of `seen` (the distribution it reads)."""
    k = len(game.moves)
    u_move, u_tie = rng.random(), rng.random()
    p, _ = _renorm(own, k)
    q, _ = _renorm(seen, k)
    me = _pick(p, u_move)
    them = game.counter(_argmax(q, u_tie))
    return me, them, game.outcome(me, them), p


# ---------------------------------------------------------------- playing a batch of games
def play_batch(lm, game: Game, indices: list[int], *, rounds: int, seed: int, adversary: str = "exact",
               min_mass: float = 1e-4, on_round=None) -> list[dict]:
    """Play the games `indices` together (one session row each); returns one record per game."""
    from ..kernels.answers import uniform_dist
    from ..kernels.sampling import row_rng

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
        from ..kernels.session import Session
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
    from ..kernels.answers import MAX_STEPS
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
    from ..kernels.session import rows_per_chunk
    return max(1, min(128, rows_per_chunk(lm, 120 + 45 * rounds)))


def run_model(lm, game: Game, *, games: int, rounds: int, seed: int, out, adversary="exact", batch_size=None,
              min_mass=1e-4, indices=None, rank=None, progress=None) -> tuple[list[dict], "ResultFile"]:
    """Play `games` games (or only `indices`) for one model, resuming from its result file.
    Returns all its game records (sorted by game index) and the file."""
    from .results import ResultFile, append, model_config, provenance

    config = {"task": "determinism", "game": game.name, "rounds": rounds, "seed": seed, "adversary": adversary,
              "min_mass": min_mass, "templates": game.templates(), **model_config(lm)}
    rf = ResultFile(out, f"determinism-{game.name}", lm.spec, config, rank=rank)
    done = rf.done("game")
    todo = [g for g in (range(games) if indices is None else indices) if g not in done]
    if todo and not getattr(lm, "is_oracle", False):
        from ..kernels.forward import check_length
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


def summary(lm, game: Game, records: list[dict], *, adversary: str, seconds: float | None = None) -> dict:
    from ..probes.determinism import summarise, uniform_expected_net
    row = {"model": lm.spec, "game": game.name, "adversary": adversary, **summarise(records)}
    if getattr(lm, "is_oracle", False):
        row["expected_net_score"] = uniform_expected_net(game.name, len(game.moves))
    if seconds is not None:
        row["seconds"] = round(seconds, 1)
    return row


def run_determinism(models, game_name: str, *, games=500, rounds=10, seed=0, out="results", adversary="exact",
                    batch_size=None, min_mass=1e-4, load=None, progress=True) -> list[dict]:
    """The determinism probe for each model: play, write per-game records and a summary.

    Under `accelerate launch` or `torchrun` (WORLD_SIZE > 1) every process plays its share of
    the games (accelerate's `split_between_processes`) into its own `.rankN` shard; the main
    process then merges the shards into the same summary one process would write, and returns
    the rows (the other processes return none)."""
    import time

    from .results import as_lm, write_summary

    game = get_game(game_name)
    if games < 1 or rounds < 1:
        raise UserError("--games and --rounds must be at least 1")
    state = _distributed()
    rows = []
    for spec in models:
        lm = as_lm(spec, load)
        t0 = time.perf_counter()
        indices, rank = None, None
        if state is not None:
            with state.split_between_processes(list(range(games))) as mine:
                indices, rank = list(mine), state.process_index
        main = state is None or state.is_main_process
        bar = _bar(games if indices is None else len(indices), f"{lm.spec} {game.name}") if progress and main else None
        try:
            records, rf = run_model(lm, game, games=games, rounds=rounds, seed=seed, out=out, adversary=adversary,
                                    batch_size=batch_size, min_mass=min_mass, progress=bar, indices=indices, rank=rank)
        finally:
            if bar:
                bar.close()
        if state is not None:
            state.wait_for_everyone()
            if not main:
                continue
            rf = rf.__class__(out, f"determinism-{game.name}", lm.spec, rf.config)   # the merged view
            done = rf.done("game")
            missing = [g for g in range(games) if g not in done]
            if missing:
                raise UserError(f"{len(missing)} games missing after the processes finished (first: {missing[0]})")
            records = [done[g] for g in range(games)]
        row = summary(lm, game, records, adversary=adversary, seconds=time.perf_counter() - t0)
        if state is not None:
            row["processes"] = state.num_processes
        row["results"] = str(rf.path)
        with rf.open({}) as fh:
            write_summary(fh, row)
        rows.append(row)
        del lm
    return rows


def _distributed():
    """accelerate's PartialState when launched with several processes (gloo on CPU), else None."""
    import os
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return None
    import torch
    from accelerate import PartialState
    return PartialState(cpu=not torch.cuda.is_available())


def _bar(total: int, desc: str):
    from tqdm.auto import tqdm
    return tqdm(total=total, desc=desc, unit="game", leave=False, dynamic_ncols=True, disable=None,
                bar_format="{l_bar}{bar}| {n:.0f}/{total} [{elapsed}<{remaining}]")
