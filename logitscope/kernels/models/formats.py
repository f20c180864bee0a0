"""Prompt formats: how a user prompt (or a conversation) becomes model text, plus an answer infix.

Every format renders a conversation `turns = [user, assistant, user, ..., user]` (a single
prompt is `[prompt]`) and then opens the assistant's answer with an optional **infix** such as
`"Number:"`. The same rendering is applied to every model so base and aligned models are
compared on equal terms:

- `raw`             turns joined by newlines, then `"\\n" + infix` (base models)
- `tulu`            `<|user|>\\n{prompt}\\n<|assistant|>\\n{infix}` (assistant turns end with EOS + newline)
- `llama3-instruct` Llama-3 headers with the system prompt of the study
- `chat`            the tokenizer's own chat template (`add_generation_prompt=True`) + infix

Text is tokenised with `add_special_tokens=False` and the tokenizer's own BOS prefix is put in
front only when the text does not already start with it (never a double BOS).
"""
from __future__ import annotations

from dataclasses import dataclass

from ...errors import UserError

LLAMA3_SYSTEM = "You are an expert at following human instructions."
FORMATS = ("raw", "tulu", "llama3-instruct", "chat")


def _check_turns(turns: list[str]) -> None:
    if not turns or len(turns) % 2 == 0:
        raise UserError("a conversation must alternate user/assistant turns and end with a user turn")
    if not turns[0].strip():
        raise UserError("empty prompt")


def render_raw(tokenizer, turns: list[str], infix: str) -> str:
    text = "\n".join(turns)
    return text + ("\n" + infix if infix else "")


def render_tulu(tokenizer, turns: list[str], infix: str) -> str:
    eos = tokenizer.eos_token or ""
    parts = []
    for i, turn in enumerate(turns):
        parts.append(f"<|user|>\n{turn}\n" if i % 2 == 0 else f"<|assistant|>\n{turn}{eos}\n")
    return "".join(parts) + "<|assistant|>\n" + infix


def render_llama3(tokenizer, turns: list[str], infix: str) -> str:
    def block(role, content):
        return f"<|start_header_id|>{role}<|end_header_id|>\n\n{content}<|eot_id|>"
    parts = [block("system", LLAMA3_SYSTEM)]
    parts += [block("user" if i % 2 == 0 else "assistant", t) for i, t in enumerate(turns)]
    return "".join(parts) + "<|start_header_id|>assistant<|end_header_id|>\n\n" + infix


def render_chat(tokenizer, turns: list[str], infix: str) -> str:
    if not getattr(tokenizer, "chat_template", None):
        raise UserError("this model's tokenizer has no chat template; use --format raw, tulu or llama3-instruct")
    messages = [{"role": "user" if i % 2 == 0 else "assistant", "content": t} for i, t in enumerate(turns)]
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    return text + infix


_RENDER = {"raw": render_raw, "tulu": render_tulu, "llama3-instruct": render_llama3, "chat": render_chat}


@dataclass(frozen=True)
class Format:
    """A prompt format by name; `text` renders, `encode` tokenises (BOS handled)."""
    name: str

    def __post_init__(self):
        if self.name not in _RENDER:
            raise UserError(f"unknown format '{self.name}'; choose one of {', '.join(FORMATS)}")

    def text(self, tokenizer, turns: list[str] | str, infix: str = "") -> str:
        turns = [turns] if isinstance(turns, str) else list(turns)
        _check_turns(turns)
        return _RENDER[self.name](tokenizer, turns, infix)

    def encode(self, tokenizer, turns: list[str] | str, infix: str = "") -> list[int]:
        return encode_text(tokenizer, self.text(tokenizer, turns, infix))


_BOS_CACHE: dict[int, list[int]] = {}


def bos_prefix(tokenizer) -> list[int]:
    """The ids the tokenizer puts before the text by default (e.g. `[<bos>]`), found by probing."""
    key = id(tokenizer)
    if key not in _BOS_CACHE:
        plain = tokenizer("a", add_special_tokens=False)["input_ids"]
        full = tokenizer("a", add_special_tokens=True)["input_ids"]
        k = next((i for i in range(len(full) - len(plain) + 1) if full[i:i + len(plain)] == plain), 0)
        _BOS_CACHE[key] = list(full[:k])
    return _BOS_CACHE[key]


def encode_text(tokenizer, text: str) -> list[int]:
    """Token ids of `text` with the tokenizer's BOS prefix exactly once, and no EOS suffix."""
    ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
    prefix = bos_prefix(tokenizer)
    if prefix and ids[:len(prefix)] != prefix:
        ids = prefix + ids
    return ids
