"""Answer spaces (answer -> surface forms) and the text rule that decides which answer a
continuation spells. Pure Python, no torch.

Rule: a continuation spells answer A when its text is
    optional ASCII whitespace + a surface form of A + a boundary
where a boundary is the end of the model's text (EOS or any special token), whitespace or
punctuation (ASCII punctuation, any Unicode P*/Z* character). So "7", " 7\\n", "7." and "\\n7 is"
spell 7; "70" and "7a" do not; "1" never absorbs "10". (A decimal such as "1.5" spells 1.)
"""
from __future__ import annotations

import json
import string
import sys
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ...errors import UserError, check_file

WS_BYTES = frozenset(b" \t\n\r\x0b\x0c")
ASCII_BOUNDARY = frozenset(b for b in range(128) if chr(b).isspace() or chr(b) in string.punctuation)
LIVE, VALID, INVALID = 0, 1, 2

NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
                "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
                "eighteen", "nineteen", "twenty"]
RPS_MOVES = ("rock", "paper", "scissors")
# Seven hiding spots of a house for hide-and-seek (our wording; the study does not list its spots).
HIDE_SEEK_SPOTS = ("attic", "basement", "bedroom", "closet", "garage", "kitchen", "shed")


@lru_cache(maxsize=1)
def _nonascii_boundary() -> tuple[frozenset, dict]:
    """(UTF-8 encodings of non-ASCII boundary chars, proper prefix -> possible next bytes)."""
    enc = set()
    for cp in range(0x80, sys.maxunicode + 1):
        ch = chr(cp)
        cat = unicodedata.category(ch)
        if cat[0] in "PZ" or ch.isspace():
            enc.add(ch.encode("utf-8"))
    nxt: dict[bytes, set] = {}
    for e in enc:
        for k in range(len(e)):
            nxt.setdefault(e[:k], set()).add(e[k])
    return frozenset(enc), {k: frozenset(v) for k, v in nxt.items()}


def _canon(form: str) -> str:
    return form.strip()


@dataclass(frozen=True)
class AnswerSpace:
    """Answers (in order) and their surface forms. Build with the helpers or `parse_answers`."""
    name: str
    forms: tuple[tuple[str, tuple[str, ...]], ...]

    @classmethod
    def of(cls, name: str, mapping: dict) -> "AnswerSpace":
        if not mapping:
            raise UserError("empty answer set: give at least one answer")
        items = []
        for answer, forms in mapping.items():
            forms = [forms] if isinstance(forms, str) else list(forms)
            canon = tuple(dict.fromkeys(_canon(str(f)) for f in forms))
            if not canon or any(not f for f in canon):
                raise UserError(f"answer '{answer}' has an empty surface form")
            items.append((str(answer), canon))
        space = cls(name, tuple(items))
        space.check_overlaps()
        return space

    @property
    def labels(self) -> list[str]:
        return [a for a, _ in self.forms]

    def check_overlaps(self) -> None:
        """Two answers may not claim the same text: equal forms, or one form = other + boundary..."""
        owner: dict[str, str] = {}
        for answer, forms in self.forms:
            for f in forms:
                if f in owner and owner[f] != answer:
                    raise UserError(f"surface form '{f}' is given to two answers ('{owner[f]}' and '{answer}')")
                owner[f] = answer
        matcher = Matcher(self)
        for fb, answer in matcher.answer_of.items():
            for k in range(1, len(fb)):
                other = matcher.answer_of.get(fb[:k])
                if other is not None and other != answer and matcher.starts_with_boundary(fb[k:]):
                    raise UserError(f"surface forms overlap: '{fb.decode()}' (answer '{answer}') already "
                                    f"spells answer '{other}'")


def integers(lo: int = 0, hi: int = 10, words: bool = False) -> AnswerSpace:
    m = {}
    for i in range(lo, hi + 1):
        forms = [str(i)]
        if words and 0 <= i < len(NUMBER_WORDS):
            forms += [NUMBER_WORDS[i], NUMBER_WORDS[i].capitalize()]
        m[str(i)] = forms
    return AnswerSpace.of(f"{lo}-{hi}" + ("+words" if words else ""), m)


def letters(first: str = "a", last: str = "k") -> AnswerSpace:
    return AnswerSpace.of(f"{first}-{last}", {chr(c): [chr(c), chr(c).upper()]
                                               for c in range(ord(first), ord(last) + 1)})


def words(name: str, items) -> AnswerSpace:
    """Each word in lower case, Capitalised and UPPER case."""
    return AnswerSpace.of(name, {w: [w, w.capitalize(), w.upper()] for w in items})


def rps() -> AnswerSpace:
    return words("rps", RPS_MOVES)


def hide_seek() -> AnswerSpace:
    return words("hide-seek", HIDE_SEEK_SPOTS)


def from_file(path: str) -> AnswerSpace:
    """JSON `{"answer": ["form", ...]}`, or text lines `answer: form1, form2` / `form`."""
    p = Path(path)
    text = p.read_text(encoding="utf-8")
    if p.suffix == ".json":
        return AnswerSpace.of(p.stem, json.loads(text))
    m = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        answer, _, rest = line.partition(":") if ":" in line else (line, "", line)
        m[answer.strip()] = [f for f in rest.split(",") if f.strip()] or [answer]
    return AnswerSpace.of(p.stem, m)


def parse_answers(spec: str) -> AnswerSpace:
    """`0-10` | `0-10+words` | `a-k` | `rps` | `hide-seek` | a file path."""
    check_file(spec, "--answers", "0-10, 0-10+words, a-k, rps, hide-seek or a file of forms")
    if spec == "rps":
        return rps()
    if spec in ("hide-seek", "hide-and-seek"):
        return hide_seek()
    base, _, extra = spec.partition("+")
    lo, dash, hi = base.partition("-")
    if dash and lo.isdigit() and hi.isdigit():
        return integers(int(lo), int(hi), words=extra == "words")
    if dash and len(lo) == 1 and len(hi) == 1 and lo.isalpha() and hi.isalpha():
        return letters(lo.lower(), hi.lower())
    if Path(spec).is_file():
        return from_file(spec)
    raise UserError(f"unknown answer set '{spec}'; use 0-10, 0-10+words, a-k, rps, hide-seek or a file")


class Matcher:
    """Byte-level state machine of the rule above. A state is the text after the leading
    whitespace (`b""` while only whitespace has been seen)."""

    def __init__(self, space: AnswerSpace):
        self.answer_of: dict[bytes, str] = {}
        self.next_bytes: dict[bytes, set] = {}
        for answer, forms in space.forms:
            for f in forms:
                fb = f.encode("utf-8")
                self.answer_of[fb] = answer
                for k in range(len(fb)):
                    self.next_bytes.setdefault(fb[:k], set()).add(fb[k])
        self.boundary_enc, self.boundary_next = _nonascii_boundary()
        self.max_form = max(len(f) for f in self.answer_of)

    def classify(self, text: bytes) -> tuple[int, str | None]:
        """(LIVE | VALID | INVALID, answer) for text (leading whitespace already stripped).

        A complete form followed by a boundary decides the answer, whatever follows, even where
        the text could still grow into a longer form of the same answer ("New York" + " " with
        "New York City" also a form); `check_overlaps` guarantees no other answer's form goes on
        past a boundary, so the decision is unique."""
        pending = False
        for k in range(min(len(text) - 1, self.max_form), 0, -1):
            answer = self.answer_of.get(text[:k])
            if answer is None:
                continue
            rest = text[k:]
            if self.starts_with_boundary(rest):
                return VALID, answer
            pending = pending or rest in self.boundary_next
        if pending or text in self.next_bytes or text in self.answer_of:
            return LIVE, None
        return INVALID, None

    def starts_with_boundary(self, rest: bytes) -> bool:
        if rest[0] < 0x80:
            return rest[0] in ASCII_BOUNDARY
        return any(rest[:n] in self.boundary_enc for n in (2, 3, 4))

    def step(self, text: bytes, byte: int) -> tuple[int, str | None, bytes]:
        """Feed one byte: (status, answer, new text)."""
        if not text and byte in WS_BYTES:
            return LIVE, None, text
        new = text + bytes([byte])
        status, answer = self.classify(new)
        return status, answer, new

    def candidates(self, text: bytes) -> set:
        """Every byte that can keep `text` live or make it valid (all others make it invalid)."""
        out = set(self.next_bytes.get(text, ()))
        if not text:
            out |= WS_BYTES
        for k in range(min(len(text), self.max_form), 0, -1):
            if text[:k] in self.answer_of:
                rest = text[k:]
                out |= ASCII_BOUNDARY if not rest else set()
                out |= self.boundary_next.get(rest, frozenset())
        return out

    def at_end(self, text: bytes) -> str | None:
        """The answer spelled if the text ends here (EOS), else None."""
        return self.answer_of.get(text)

    def spells(self, data: bytes) -> tuple[int, str | None, bytes]:
        """Feed a whole byte string; stops at the first VALID/INVALID."""
        text = b""
        for b in data:
            status, answer, text = self.step(text, b)
            if status != LIVE:
                return status, answer, text
        return LIVE, None, text
