"""The next-token distribution of one prompt, as a person inspects it: the prompt's tokens, the top k
next tokens with their probabilities under the sampling transform (temperature, top-p) and under
the model, the full and top-5 entropy in bits and the mass of every token not shown.

    nt = next_token(lm, "Pick a number between 0 and 10.", infix="Number:", temperature=1.5)
    nt.pieces[nt.top_ids.index(...)], nt.probs[0], nt.mass_below, nt.entropy_bits
    nt            # in Jupyter: the prompt with token boundaries and the bars (`logitscope.views`)

Probabilities are float64 exponentials of the float32 log-probs `forward.next_logprobs` returns, after
`sampling.transform` (the rule sampling and the exact readouts apply); the entropies are summed in
float64 (the top-5 entropy is `generate.distribution_stats`'s, the measure of `probe entropy`). `mass_below` is the sum of the probabilities
of the tokens not shown, added up directly (not 1 minus the shown ones).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ...errors import UserError
from .forward import check_length, next_logprobs
from .generate import distribution_stats
from .vocab import token_text
from .sampling import check_settings, transform

MAX_K = 1000


@dataclass(frozen=True)
class NextToken:
    """One prompt's next-token distribution (probabilities float64; entropies in bits).

    `probs` / `entropy_bits` / `top5_entropy_bits` / `mass_below` are those of the sampling
    distribution (after temperature and top-p); `model_probs` / `model_entropy_bits` /
    `model_mass_below` those of the model itself (T = 1, top-p = 1). The top k are ranked by the
    sampling distribution, ties (the tokens top-p cut, all at probability 0) by the model's."""
    model: str
    format: str
    infix: str
    prompt_text: str          # the formatted prompt as the model reads it
    ids: tuple                # its token ids
    pieces: tuple             # each id's text
    temperature: float
    top_p: float
    top_ids: tuple
    top_pieces: tuple
    probs: tuple
    model_probs: tuple
    entropy_bits: float
    top5_entropy_bits: float
    mass_below: float
    model_entropy_bits: float
    model_mass_below: float
    special: tuple = ()       # per prompt token: is it a special token (BOS, a chat marker)

    def to_json(self) -> dict:
        """The record `probe dist --json` writes for the next token (its keys), and the prompt's tokens."""
        return {"model": self.model, "format": self.format, "infix": self.infix, "prompt_text": self.prompt_text,
                "prompt_tokens": len(self.ids), "ids": list(self.ids), "pieces": list(self.pieces),
                "special": list(self.special),
                "temperature": self.temperature, "top_p": self.top_p, "top_k": len(self.top_ids),
                "top": [{"token_id": i, "token": t, "prob": p, "model_prob": q}
                        for i, t, p, q in zip(self.top_ids, self.top_pieces, self.probs, self.model_probs)],
                "entropy_bits": self.entropy_bits, "top5_entropy_bits": self.top5_entropy_bits,
                "mass_below": self.mass_below, "model_entropy_bits": self.model_entropy_bits,
                "model_mass_below": self.model_mass_below}

    def _repr_html_(self) -> str:
        from ...views.nexttoken import next_token_html
        return next_token_html(self.to_json())


def prompt_ids(lm, prompt, infix: str = "") -> list[int]:
    """Token ids of a user prompt in the LM's format (with the infix), or token ids as they are."""
    if isinstance(prompt, (list, tuple)):
        ids = [int(i) for i in prompt]
    else:
        if not str(prompt).strip():
            raise UserError("empty prompt: nothing to condition on")
        ids = lm.encode(prompt, infix)
    if not ids:
        raise UserError("empty prompt: nothing to condition on")
    check_length(lm, len(ids), f"the prompt ({len(ids)} tokens)")
    return ids


def next_token(lm, prompt, *, infix: str = "", temperature: float = 1.0, top_p: float = 1.0,
               k: int = 20) -> NextToken:
    """The next-token distribution after `prompt` (a user prompt rendered in the LM's format with
    `infix`, or token ids used as they are): one forward pass."""
    check_settings(temperature, top_p)
    check_k(k)
    ids = prompt_ids(lm, prompt, infix)
    return summarise(lm, ids, next_logprobs(lm, [ids])[0], infix=infix, temperature=temperature, top_p=top_p, k=k)


def entropy_bits(lp: torch.Tensor) -> float:
    """-sum p log2 p of log-probs [vocab], in float64 (a token top-p cut adds 0)."""
    lp = lp.double()
    return float(-torch.where(lp > -torch.inf, lp.exp() * lp, torch.zeros((), dtype=lp.dtype)).sum() / math.log(2.0))


def check_k(k: int) -> None:
    if not 1 <= int(k) <= MAX_K:
        raise UserError(f"k (tokens shown) must be between 1 and {MAX_K} (got {k})")


def summarise(lm, ids: list[int], logprobs: torch.Tensor, *, infix: str = "", temperature: float = 1.0,
              top_p: float = 1.0, k: int = 20) -> NextToken:
    """`NextToken` from the model's next-token log-probs [vocab] (float32) after `ids`; no forward."""
    check_settings(temperature, top_p)
    check_k(k)
    model_lp = logprobs.float().cpu()
    lp = transform(model_lp, temperature, top_p)
    top_ent = distribution_stats(lp[None], k=5)[1]
    k = min(int(k), lp.shape[-1])
    p, q = lp.double().exp(), model_lp.double().exp()
    by_model = torch.sort(model_lp, descending=True, stable=True).indices
    order = by_model[torch.sort(lp[by_model], descending=True, stable=True).indices]   # ties by the model's order
    shown, rest = order[:k], order[k:]
    tok = lm.tokenizer
    top = [int(i) for i in shown]
    specials = set(tok.all_special_ids)
    return NextToken(
        model=lm.name, format=lm.format.name, infix=infix, prompt_text=tok.decode(ids),
        ids=tuple(ids), pieces=tuple(token_text(tok, i, lp.shape[-1]) for i in ids), temperature=float(temperature),
        top_p=float(top_p), top_ids=tuple(top), top_pieces=tuple(token_text(tok, i, lp.shape[-1]) for i in top),
        probs=tuple(float(x) for x in p[shown]), model_probs=tuple(float(x) for x in q[shown]),
        entropy_bits=entropy_bits(lp), top5_entropy_bits=float(top_ent[0]), mass_below=float(p[rest].sum()),
        model_entropy_bits=entropy_bits(model_lp), model_mass_below=float(q[rest].sum()),
        special=tuple(i in specials for i in ids))
