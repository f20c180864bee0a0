"""A resumed game's cache is rebuilt by appending its saved rounds as they were played: histories
that games share are forwarded once (as in an uninterrupted run), so a resume forwards no more
tokens than the uninterrupted run did, and the resumed games are the same, number for number."""
import pytest

from logitscope.kernels.engine import session as session_mod
from logitscope.tasks.games.play import play_batch
from logitscope.tasks.games.rules import get_game
from logitscope.testing import DEFAULT_WORDS, bytelevel_tokenizer, tiny_lm


@pytest.fixture(scope="module")
def lm():
    return tiny_lm("llama", bytelevel_tokenizer(words=DEFAULT_WORDS + ["Move:", " Move:"]), seed=11, peak=4.0)


def _counted(monkeypatch):
    """Sessions made from now on, to sum what they forwarded."""
    made = []

    class Counted(session_mod.Session):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            made.append(self)
    monkeypatch.setattr(session_mod, "Session", Counted)
    return made


def _first_rounds(rec: dict, k: int) -> dict:
    return {key: v[:k] if isinstance(v, list) else v for key, v in rec.items() if key != "no_valid_rounds"}


@pytest.mark.parametrize("adversary", ["exact", "first-token"])
def test_a_resume_forwards_what_the_uninterrupted_run_forwarded(lm, monkeypatch, adversary):
    g, games, rounds = get_game("rps"), list(range(8)), 6
    made = _counted(monkeypatch)
    whole = play_batch(lm, g, games, rounds=rounds, seed=5, adversary=adversary)
    fresh = made.pop().tokens_forwarded
    early, late = ({tuple(zip(r["moves"][:k], r["adversary"][:k])) for r in whole} for k in (2, rounds))
    assert len(early) < len(late), "games share their first rounds and part later (else this shows nothing)"
    for k in (2, 5):
        played = {r["game"]: _first_rounds(r, k) for r in whole}
        resumed = play_batch(lm, g, games, rounds=rounds, seed=5, adversary=adversary, played=played)
        assert made.pop().tokens_forwarded == fresh, k             # one append of whole histories forwarded more
        assert [{x: v for x, v in r.items() if x != "no_valid_rounds"} for r in resumed] == \
            [{x: v for x, v in r.items() if x != "no_valid_rounds"} for r in whole]
