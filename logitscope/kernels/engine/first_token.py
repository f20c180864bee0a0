"""The study's adversary readout (West & Potts 2025), approximate: each answer's next-token mass of the
tokens whose text begins one of its surface forms. Nothing is looked at past the first token, so it is
labelled approximate (`AnswerDist.exact` False); `answers.expand_exact` is the exact readout."""
from __future__ import annotations

import numpy as np
import torch

from .answers import AnswerDist, answer_index
from .sampling import transform
from .spaces import AnswerSpace
from .vocab import VocabIndex


def first_token(lm, logprobs: torch.Tensor, space: AnswerSpace, *, temperature=1.0, top_p=1.0) -> list[AnswerDist]:
    """The study's adversary readout (approximate): for each answer, the next-token mass of tokens
    whose text (leading whitespace stripped) begins one of its surface forms. A token that begins
    forms of several answers ("1" for 1 and 10) counts for each; nothing is looked at past it."""
    idx = answer_index(lm, space)
    token_sets = []
    for _answer, forms in space.forms:
        ids = set()
        for f in forms:
            fb = f.encode("utf-8")
            for n in range(1, len(fb) + 1):
                for w in _leading_ws(idx.vocab):
                    ids.update(idx.vocab.ids_with_bytes(w + fb[:n]))
        token_sets.append(np.array(sorted(ids), dtype=np.int64))
    any_ids = np.unique(np.concatenate(token_sets)) if token_sets else np.array([], dtype=np.int64)
    probs = transform(logprobs.cpu(), temperature, top_p).double().exp().numpy()
    out = []
    for row in probs:
        answers = {a: float(row[ids].sum()) for a, ids in zip(space.labels, token_sets)}
        v = float(row[any_ids].sum())
        out.append(AnswerDist(answers, v, 1.0 - v, 0.0, "first-token", temperature, top_p, 1, exact=False))
    return out


def _leading_ws(vocab: VocabIndex) -> list[bytes]:
    """Whitespace strings that start some token (b"" included)."""
    if not hasattr(vocab, "_leading_ws"):
        found = {b""}
        for s in vocab.sorted_bytes:
            n = len(s) - len(s.lstrip(b" \t\n\r\x0b\x0c"))
            if n and n < len(s):
                found.add(s[:n])
        vocab._leading_ws = sorted(found)
    return vocab._leading_ws
