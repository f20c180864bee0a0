"""What text each token id spells, as bytes, indexed for prefix queries (built once per tokenizer).

Token strings are turned into the exact bytes the decoder would emit: byte-level BPE (GPT-2,
Llama-3, SmolLM2) through the inverse byte-to-unicode table; sentencepiece-style BPE (Gemma,
Llama-2) with `▁` as a space and `<0xHH>` byte-fallback tokens as single bytes; non-special added
tokens as their literal text. Special tokens (EOS, end-of-turn, control tokens) spell no text and
end the model's text. Ids past the tokenizer's length (padding rows of the embedding) spell
nothing and can never start an answer.
"""
from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass
from functools import lru_cache

_BYTE_FALLBACK = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")


@lru_cache(maxsize=1)
def _byte_decoder() -> dict[str, int]:
    """Inverse of GPT-2's bytes_to_unicode."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


def _decoder_kind(tokenizer) -> str:
    try:
        spec = json.loads(tokenizer.backend_tokenizer.to_str()).get("decoder") or {}
    except AttributeError:
        return "generic"
    text = json.dumps(spec)
    if '"ByteLevel"' in text:
        return "bytelevel"
    if "ByteFallback" in text or "Metaspace" in text or "\\u2581" in text:
        return "sentencepiece"
    return "generic"


def token_bytes_table(tokenizer, vocab_size: int) -> tuple[list[bytes | None], list[int]]:
    """(bytes per id, or None for ids that spell nothing; special ids that end the text)."""
    kind = _decoder_kind(tokenizer)
    special = set(tokenizer.all_special_ids)
    added = {}
    for tid, tok in getattr(tokenizer, "added_tokens_decoder", {}).items():
        if tok.special:
            special.add(tid)
        else:
            added[tid] = tok.content.encode("utf-8")
    n = min(len(tokenizer), vocab_size)
    strings = tokenizer.convert_ids_to_tokens(list(range(n)))
    table: list[bytes | None] = [None] * vocab_size
    bdec = _byte_decoder()
    for tid, s in enumerate(strings):
        if tid in special or s is None:
            continue
        if tid in added:
            table[tid] = added[tid]
        elif kind == "bytelevel":
            try:
                table[tid] = bytes(bdec[c] for c in s)
            except KeyError:
                table[tid] = s.encode("utf-8")
        elif kind == "sentencepiece":
            m = _BYTE_FALLBACK.match(s)
            table[tid] = bytes([int(m.group(1), 16)]) if m else s.replace("\u2581", " ").encode("utf-8")
        else:
            table[tid] = tokenizer.decode([tid]).encode("utf-8")
    return table, sorted(t for t in special if t < vocab_size)


@dataclass
class VocabIndex:
    """Token ids sorted by their bytes, so every byte prefix is one contiguous range."""
    vocab_size: int
    token_bytes: list
    end_ids: list[int]
    order: list[int]            # text token ids sorted by bytes
    sorted_bytes: list[bytes]   # their bytes, same order

    @classmethod
    def build(cls, tokenizer, vocab_size: int) -> "VocabIndex":
        table, end_ids = token_bytes_table(tokenizer, vocab_size)
        order = sorted((t for t in range(vocab_size) if table[t] is not None), key=lambda t: table[t])
        return cls(vocab_size, table, end_ids, order, [table[t] for t in order])

    def child_range(self, depth: int, byte: int, lo: int, hi: int) -> tuple[int, int]:
        """Within [lo, hi) (entries sharing a prefix of `depth` bytes, all longer than it), the
        sub-range whose byte at `depth` equals `byte`."""
        key = lambda s: s[depth]  # noqa: E731
        a = bisect.bisect_left(self.sorted_bytes, byte, lo, hi, key=key)
        b = bisect.bisect_right(self.sorted_bytes, byte, a, hi, key=key)
        return a, b

    def exact_end(self, depth: int, lo: int, hi: int) -> int:
        """Entries in [lo, hi) of exactly `depth` bytes come first; the index after them."""
        j = lo
        while j < hi and len(self.sorted_bytes[j]) == depth:
            j += 1
        return j

    def ids_with_bytes(self, data: bytes) -> list[int]:
        a = bisect.bisect_left(self.sorted_bytes, data)
        b = bisect.bisect_right(self.sorted_bytes, data, a)
        return self.order[a:b]

    def has_prefix(self, data: bytes) -> bool:
        i = bisect.bisect_left(self.sorted_bytes, data)
        return i < len(self.sorted_bytes) and self.sorted_bytes[i].startswith(data)


_INDEX: dict[tuple[int, int], VocabIndex] = {}


def vocab_index(tokenizer, vocab_size: int) -> VocabIndex:
    """The index for this tokenizer and model vocabulary size (memoised)."""
    key = (id(tokenizer), vocab_size)
    if key not in _INDEX:
        _INDEX[key] = VocabIndex.build(tokenizer, vocab_size)
    return _INDEX[key]


def token_text(tokenizer, token_id: int, vocab_size: int | None = None) -> str:
    """A token's text as shown to people: its decoded text, or, for a token that is not whole UTF-8
    on its own (one byte of a character split across tokens), its bytes written `<0xE2>` (the
    decoder would give U+FFFD there)."""
    text = tokenizer.decode([int(token_id)])
    if "\ufffd" not in text:
        return text
    table = vocab_index(tokenizer, vocab_size or len(tokenizer)).token_bytes
    raw = table[int(token_id)] if int(token_id) < len(table) else None
    if raw is None:
        return text
    return "".join(f"<0x{ord(c) - 0xDC00:02X}>" if 0xDC80 <= ord(c) <= 0xDCFF else c
                   for c in raw.decode("utf-8", "surrogateescape"))
