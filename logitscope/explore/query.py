"""What a request to the explorer asks, read from its JSON body: every field checked, each bad one
refused with one line (`FieldError`, answered as a 400 with the field's name beside the line). The
line names the field as the page labels its input (`LABELS`: "Tokens shown", not `k`), since a
person reads it there; a program reads which field from the answer's `field`."""
from __future__ import annotations

import json
import re
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .. import limits
from ..errors import UserError
from ..limits import Range

MAX_PROMPT_CHARS = 20_000
MAX_BRANCH = 512
MAX_NEW_TOKENS = 512
BUILTIN = re.compile(r"^(rps|hide-seek|hide-and-seek|\d+-\d+(\+words)?|[A-Za-z]-[A-Za-z])$")
FORMATS = ("raw", "tulu", "llama3-instruct", "chat")
# below 0.01: float32 logits / T overflow into one-hot or NaN; above 100: uniform in all but name
TEMPERATURE = Range(0.01, 100.0)
TOP_K = Range(1, 200, integer=True)
SEED = Range(0, 2 ** 32 - 1, integer=True)
NEW_TOKENS = Range(1, MAX_NEW_TOKENS, integer=True)
# each field as the page labels its input (static/index.html): the words an error line uses
LABELS = {"prompt": "Prompt", "format": "Format", "infix": "Infix", "temperature": "Temperature", "top_p": "top-p",
          "k": "Tokens shown", "answers": "Answer set", "min_mass": "Prune below", "seed": "Seed",
          "max_new_tokens": "New tokens", "spec": "Model to load", "branch": "The chosen tokens", "model": "Model"}


class FieldError(UserError):
    """A bad value of one field of a request: `field` is its name in the API, the line names its label."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@contextmanager
def about(field: str):
    """Any `UserError` raised inside is about `field` (a `FieldError`), e.g. an answer set no token spells."""
    try:
        yield
    except FieldError:
        raise
    except UserError as exc:
        raise FieldError(field, str(exc)) from None


@dataclass(frozen=True)
class Query:
    """A prompt on one model's column: the user prompt in a format (`default`: the model's own) with
    an infix, then the token ids a person appended (`branch`), and the sampling settings."""
    model: int
    prompt: str
    format: str
    infix: str
    branch: tuple
    temperature: float
    top_p: float


def _get(body: dict, name: str, kind, default=None, required=False):
    if name not in body or body[name] is None:
        if required:
            raise FieldError(name, f"{LABELS.get(name, name)} is missing (field '{name}')")
        return default
    value = body[name]
    if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind is str and isinstance(value, str):
        return value
    if kind is list and isinstance(value, list):
        return value
    names = {float: "a number", int: "a whole number", str: "a string", list: "a list"}
    raise FieldError(name, f"{LABELS.get(name, name)} must be {names[kind]} (got {json.dumps(value)[:40]})")


def parse_body(raw: bytes) -> dict:
    try:
        body = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise UserError("the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise UserError("the request body must be a JSON object")
    return body


def parse_query(body: dict, n_models: int) -> Query:
    model = _get(body, "model", int, 0)
    if not 0 <= model < n_models:
        raise UserError(f"no model {model}: {n_models} loaded" if n_models else "no model loaded yet: load one first")
    prompt = _get(body, "prompt", str, required=True)
    if not prompt.strip():
        raise FieldError("prompt", "empty prompt: type something to condition on")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise FieldError("prompt", f"the prompt is {len(prompt):,} characters; the explorer takes at most "
                                   f"{MAX_PROMPT_CHARS:,}")
    fmt = _get(body, "format", str, "default")
    if fmt not in FORMATS + ("default",):
        raise FieldError("format", f"unknown format '{fmt}'; choose default (each model's own) or one of "
                                   f"{', '.join(FORMATS)}")
    branch = _get(body, "branch", list, [])
    if len(branch) > MAX_BRANCH or not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in branch):
        raise FieldError("branch", f"field 'branch' must be at most {MAX_BRANCH} token ids (whole numbers >= 0)")
    temperature = number(body, "temperature", 1.0, TEMPERATURE)
    top_p = number(body, "top_p", 1.0, limits.TOP_P)
    return Query(model, prompt, fmt, _get(body, "infix", str, ""), tuple(branch), temperature, top_p)


def number(body: dict, name: str, default, span: Range):
    """The field's value inside `span` (a whole number where it asks one), or a `FieldError` naming
    the field's label, the range and why; JSON's Infinity and NaN are refused."""
    value = _get(body, name, int if span.integer else float, default)
    if not span.contains(value):
        raise FieldError(name, span.message(json.dumps(body.get(name, value))[:40], LABELS.get(name, name)))
    return value


def answer_space(text):
    """An answer set as typed on the page: a built-in set (`0-10`, `0-10+words`, `a-k`, `rps`,
    `hide-seek`), answers separated by commas (`yes, no`: each its own form), lines of an answers
    file (`answer: form1, form2`, read by `spaces.from_file`'s rule) or a JSON object
    `{"answer": ["form", ...]}`. Never a path: the page reads no file of the server's."""
    from ..kernels.engine.spaces import AnswerSpace, from_file, parse_answers
    if not isinstance(text, str):
        raise FieldError("answers", "Answer set must be a string")
    text = text.strip()
    if not text:
        raise UserError("empty answer set: give a range like 0-10, a list like 'yes, no' or lines 'answer: form1, form2'")
    if len(text) > MAX_PROMPT_CHARS:
        raise UserError(f"the answer set is {len(text):,} characters; the explorer takes at most {MAX_PROMPT_CHARS:,}")
    if text.startswith("{"):
        try:
            mapping = json.loads(text)
        except ValueError as exc:
            raise UserError(f"the answer set is not valid JSON: {exc}") from None
        if not isinstance(mapping, dict) or not all(isinstance(v, (str, list)) for v in mapping.values()):
            raise UserError('a JSON answer set maps each answer to its forms: {"yes": ["yes", "Yes"], ...}')
        return AnswerSpace.of("custom", mapping)
    if "\n" in text or ":" in text:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "answers.txt"
            path.write_text(text, encoding="utf-8")
            return from_file(str(path))
    if "," in text:
        items = [a.strip() for a in text.split(",") if a.strip()]
        return AnswerSpace.of("custom", {a: [a] for a in items})
    if BUILTIN.match(text):
        return parse_answers(text)
    raise UserError(f"unknown answer set '{text}'; use 0-10, 0-10+words, a-k, rps, hide-seek, answers separated "
                    "by commas (yes, no) or lines 'answer: form1, form2'")
