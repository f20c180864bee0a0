"""The two games' rules and one round's decisions (West & Potts 2025, Section 4 / Table 2).

Each round the adversary reads the model's move distribution at the position where the model is
about to answer and plays the best response to the most likely move (hide-and-seek: it searches
the most likely spot). The model's move is sampled from its own exact move distribution at
temperature 1.0 (full distribution, renormalised over valid moves; the invalid mass is recorded;
in the rare round where no valid move is reached at all, the move is drawn uniformly and the round
is counted in `no_valid_rounds`).

The prompt texts below are ours (the study does not publish its exact wording); the structure
follows the study: rules, then per round the history (your move, the opponent's move, the
outcome) and a question, then the format's infix. They are recorded in every result file.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import UserError
from ...kernels.engine.spaces import HIDE_SEEK_SPOTS, RPS_MOVES, hide_seek, rps

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
