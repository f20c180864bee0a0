"""Open-ended generation on a KV-cache session, with the statistics of every token's distribution.

    samples = generate(lm, "Steve is the CEO of a startup company", n=20, max_new_tokens=64, seed=0)
    samples[0].text, samples[0].top5_entropy        # per-token top-5 entropy in bits

One small loop over a `Session` (nanochat's engine, on our cache): the prompt is prefilled once;
each batch of rows is a copy of that prompt's cache (rows share one slot until their tokens
differ, so a common opening is forwarded once); each step reads every live row's next-token
distribution, records its statistics, draws the row's token with the row's own generator and
forwards the new tokens of the live rows only.

- Randomness: sample i draws one uniform number per token from `row_rng(seed, i)` and picks the
  token by inverse CDF, so its text does not depend on batch size, chunking or the other rows.
- Temperature and top-p are `sampling.transform`, the same transform the exact readout applies.
- A row ends at any token that spells no text (EOS, end-of-turn, any special token), when its
  text (leading whitespace aside) contains `stop`, or after `max_new_tokens`. Finished rows are
  dropped from the cache once they are an eighth of the batch (until then they are fed a pad
  token and their outputs ignored: one cache copy per drop instead of one per finished row).
- Per token: id, text piece (UTF-8 decoded incrementally from the token's exact bytes, so a
  character split over two tokens appears with the token that completes it), log-prob under the
  model (T = 1) and under the sampling distribution, the entropy in bits of the sampling
  distribution over the full vocabulary and over its top 5 renormalised (Mohammadi 2024's
  measure), and the top-5 alternatives with their sampling probabilities. No vocabulary row is
  kept past its step.

`teacher_forced` scores a given continuation the same way in one forward pass.
"""
from __future__ import annotations

import codecs
import math
from dataclasses import dataclass, field

import numpy as np
import torch

from ...errors import UserError
from .forward import body_and_head, check_length, checked_log_softmax, head_logits, raise_unless_finite, run, \
    to_device
from .sampling import check_settings, row_rng, transform
from .session import Session, rows_per_chunk
from .vocab import vocab_index

TOP = 5
LN2 = math.log(2.0)
MAX_BATCH = 128


@dataclass
class Sample:
    """One generated continuation and its per-token statistics (lists of equal length)."""
    index: int
    ids: list = field(default_factory=list)
    pieces: list = field(default_factory=list)
    logprob: list = field(default_factory=list)          # natural log, under the model (T = 1)
    sample_logprob: list = field(default_factory=list)   # under the sampling distribution
    entropy: list = field(default_factory=list)          # bits, full vocabulary (sampling distribution)
    top5_entropy: list = field(default_factory=list)     # bits, top 5 renormalised
    top5: list = field(default_factory=list)             # [[(id, prob), ...5], ...]
    finish: str = "length"                               # eos | stop | length

    _tokenizer = None                                    # set by `generate`: names the top-5 tokens in views

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    def _repr_html_(self) -> str:
        """Every token coloured by its probability, its numbers and top 5 on hover (Jupyter)."""
        from ...views.sample import STYLE, sample_html
        return f'<style>{STYLE}</style><div data-colour="p">{sample_html(self.to_json(self._tokenizer))}</div>'

    @property
    def probs(self) -> list:
        """Each token's probability under the model."""
        return [math.exp(x) for x in self.logprob]

    def to_json(self, tokenizer=None) -> dict:
        r6 = lambda xs: [round(float(x), 6) for x in xs]  # noqa: E731
        rec = {"index": self.index, "text": self.text, "finish": self.finish, "ids": list(self.ids),
               "pieces": list(self.pieces), "logprob": r6(self.logprob), "sample_logprob": r6(self.sample_logprob),
               "entropy_bits": r6(self.entropy), "top5_entropy_bits": r6(self.top5_entropy),
               "top5": [[[int(t), round(float(p), 6)] for t, p in alts] for alts in self.top5]}
        if tokenizer is not None:
            rec["top5_pieces"] = [[tokenizer.decode([int(t)]) for t, _ in alts] for alts in self.top5]
        return rec


def distribution_stats(lp: torch.Tensor, k: int = TOP, p: torch.Tensor | None = None):
    """For log-probs [n, vocab] (and their probabilities `p`, if already taken): (entropy bits [n],
    top-k entropy bits [n], top-k log-probs [n, k], top-k ids [n, k]), float64 on the CPU.
    Zero-probability tokens (top-p) add nothing (`entr(0) = 0`)."""
    return tuple(x.cpu() for x in _stats(lp, k, p))


def _stats(lp: torch.Tensor, k: int = TOP, p: torch.Tensor | None = None):
    """`distribution_stats` where the log-probs are (no copy back)."""
    p = lp.exp() if p is None else p
    ent = -torch.mul(p, lp).nansum(-1).double() / LN2            # 0 x -inf (a token top-p cut) adds 0
    vals, ids = torch.topk(lp, min(k, lp.shape[-1]), dim=-1)
    q = torch.softmax(vals.double(), -1)
    top_ent = -torch.where(q > 0, q * q.log(), torch.zeros((), dtype=q.dtype, device=q.device)).sum(-1) / LN2
    return ent, top_ent, vals.double(), ids


class _Row:
    """A row's state in the loop: its sample, generator, UTF-8 decoder and stop test."""

    def __init__(self, index, seed, greedy):
        self.sample = Sample(index)
        self.rng = None if greedy else row_rng(seed, index)
        self.utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.done = False

    def add(self, tid, piece_bytes, model_lp, samp_lp, ent, top_ent, alts, stop):
        s = self.sample
        s.ids.append(tid)
        s.logprob.append(model_lp)
        s.sample_logprob.append(samp_lp)
        s.entropy.append(ent)
        s.top5_entropy.append(top_ent)
        s.top5.append(alts)
        if piece_bytes is None:                       # EOS / a special token: the text ends
            s.pieces.append(self.utf8.decode(b"", final=True))
            s.finish, self.done = "eos", True
            return
        s.pieces.append(self.utf8.decode(piece_bytes))
        if stop and stop in s.text.lstrip():
            s.finish, self.done = "stop", True


def default_batch(lm, tokens_per_row: int) -> int:
    return max(1, min(MAX_BATCH, rows_per_chunk(lm, tokens_per_row)))


@torch.inference_mode()
def generate(lm, prompt, n: int = 1, max_new_tokens: int = 64, *, temperature: float = 1.0, top_p: float = 1.0,
             seed: int = 0, stop: str | None = None, indices=None, batch_size: int | None = None,
             greedy: bool = False, infix: str = "", on_step=None) -> list[Sample]:
    """Samples `indices` (default 0..n-1) of continuations of `prompt` (a user prompt, rendered in
    the LM's format with `infix`; or token ids, used as they are). `greedy` takes the most likely
    token instead of drawing. Returns one `Sample` per index, in order."""
    check_settings(temperature, top_p)
    if max_new_tokens < 1:
        raise UserError(f"--max-new-tokens must be at least 1 (got {max_new_tokens})")
    ids = list(prompt) if isinstance(prompt, (list, tuple)) else None
    if ids is None:
        if not str(prompt).strip():
            raise UserError("empty prompt: nothing to condition on")
        ids = lm.encode(prompt, infix)
    check_length(lm, len(ids) + max_new_tokens, f"the prompt ({len(ids)} tokens) + {max_new_tokens} new tokens")
    indices = list(range(n)) if indices is None else [int(i) for i in indices]
    if not indices:
        return []
    batch = batch_size or default_batch(lm, len(ids) + max_new_tokens)
    root = Session(lm, ids, 1)
    out = []
    for s in range(0, len(indices), batch):
        chunk = indices[s:s + batch]
        out += _run(root.copy([0] * len(chunk)), chunk, max_new_tokens, temperature, top_p, seed, stop, greedy, on_step)
    return out


def _run(session, chunk, max_new_tokens, temperature, top_p, seed, stop, greedy, on_step) -> list[Sample]:
    """The loop. Each step is computed where the model is (statistics, draws and the picked tokens'
    log-probs for every row, as one [rows, 5 + 2 x TOP] table) and copied back once; the rows'
    uniform numbers are drawn up front (one per token from each row's own generator, exactly the
    numbers a draw per step would take) and sent to the device once."""
    lm = session.lm
    table = vocab_index(lm.tokenizer, session.slot_logprobs.shape[-1]).token_bytes
    rows = [_Row(i, seed, greedy) for i in chunk]
    live = list(range(len(rows)))                      # session row j is rows[live[j]]
    plain = temperature == 1.0 and top_p == 1.0
    dev = session.slot_logprobs.device
    uniforms = None if greedy else to_device(torch.from_numpy(np.stack([r.rng.random(max_new_tokens) for r in rows])), dev)
    u_rows = torch.arange(len(rows), device=dev)      # the rows of `uniforms` the live session rows use
    for step in range(max_new_tokens):
        model_lp = session.slot_logprobs               # [slots, vocab], T = 1
        lp = model_lp if plain else transform(model_lp, temperature, top_p)
        slots = to_device(torch.tensor(session.slot, dtype=torch.long), dev)
        table_d = _step_table(model_lp, lp, slots, None if greedy else uniforms[u_rows, step])
        flags = session.pending_flags()
        if flags:                                      # the forward's NaN/inf check rides along
            table_d = torch.cat([table_d.flatten(), torch.stack(flags).all().double().reshape(1)])
        host = table_d.cpu().numpy()                   # the step's one copy back
        if flags:
            raise_unless_finite(bool(host[-1]))
            host = host[:-1].reshape(len(live), -1)
        picks = host[:, 0].astype(np.int64).tolist()
        chunks = []
        for j, r in enumerate(live):
            row, t, h = rows[r], picks[j], host[j]
            if row.done:                                # finished, waiting to be dropped
                chunks.append([lm.pad_id])
                continue
            alts = list(zip(h[5 + TOP:5 + 2 * TOP].astype(np.int64).tolist(), h[5:5 + TOP].tolist()))
            row.add(t, table[t] if t < len(table) else None, float(h[1]), float(h[2]), float(h[3]), float(h[4]),
                    alts, stop)
            chunks.append([t] if not row.done else [lm.pad_id])
        if on_step:
            on_step(sum(not rows[r].done for r in live))
        if step + 1 == max_new_tokens or all(rows[r].done for r in live):
            break
        finished = [j for j, r in enumerate(live) if rows[r].done]
        if finished and len(finished) * 8 >= len(live):
            keep = [j for j, r in enumerate(live) if not rows[r].done]
            session.keep(keep)
            chunks = [chunks[j] for j in keep]
            live = [live[j] for j in keep]
            u_rows = to_device(torch.tensor(live, dtype=torch.long), dev)
        session.append(chunks, read=False)
    for r in rows:
        if r.sample.finish != "eos":                   # flush a character cut off at the end
            r.sample.pieces[-1] += r.utf8.decode(b"", final=True)
        r.sample._tokenizer = lm.tokenizer
    return [r.sample for r in rows]


BLOCK = 4096


def _step_table(model_lp, lp, s, u) -> torch.Tensor:
    """float64 [rows, 5 + 2 x TOP] on the model's device, one row per session row (`s`: its slot):
    picked id, its log-prob under the model and under the sampling distribution, the entropy and
    top-5 entropy (bits) of its distribution, the top-5 probabilities, the top-5 ids."""
    p = lp.exp()                                        # [slots, vocab], read by the statistics and the draw
    ent, top_ent, top_lp, top_ids = _stats(lp, p=p)
    picks = _draw(lp, p, s, u)
    cols = [picks.double()[:, None], model_lp[s, picks].double()[:, None], lp[s, picks].double()[:, None],
            ent[s][:, None], top_ent[s][:, None], top_lp[s].exp(), top_ids[s].double()]
    return torch.cat(cols, 1)


def _draw(lp: torch.Tensor, p: torch.Tensor, s: torch.Tensor, u: torch.Tensor | None) -> torch.Tensor:
    """One token id per session row (`s`: its slot), on the device: the argmax (`u` None), or
    inverse-CDF with the row's own uniform number u: the block of `BLOCK` tokens where u x total
    falls (cumulative float32 block sums, accumulated in float64), then the token within it
    (float64 cumulative sum of that block only): no float64 copy of the whole vocabulary."""
    if u is None:
        return lp.argmax(-1)[s]
    n, vocab = p.shape
    main = (vocab // BLOCK) * BLOCK
    parts = [p[:, :main].reshape(n, -1, BLOCK).sum(-1)] if main else []
    if main < vocab:
        parts.append(p[:, main:].sum(-1, keepdim=True))
    bcdf = torch.cat(parts, -1).double().cumsum(-1)                      # [slots, blocks]
    target = u * bcdf[s, -1]
    k = torch.searchsorted(bcdf[s], target[:, None], right=True)[:, 0].clamp(max=bcdf.shape[1] - 1)
    before = torch.where(k > 0, bcdf[s, (k - 1).clamp(min=0)], torch.zeros_like(target))
    cols = (k * BLOCK)[:, None] + torch.arange(BLOCK, device=p.device)[None]
    inside = torch.where(cols < vocab, p[s[:, None], cols.clamp(max=vocab - 1)], torch.zeros((), device=p.device))
    c = inside.double().cumsum(-1) + before[:, None]
    t = torch.searchsorted(c, target[:, None], right=True)[:, 0]
    last = torch.clamp(((cols < vocab) & (inside > 0)).long().cumsum(-1).argmax(-1), min=0)   # the block's last live token
    return (k * BLOCK + torch.minimum(t, last)).clamp(max=vocab - 1)


@torch.inference_mode()
def teacher_forced(lm, context: list[int], continuation: list[int]) -> dict:
    """The model's distribution at every token of `continuation` given `context` and the tokens
    before it, in one forward pass: {"logprob", "entropy_bits", "top5_entropy_bits", "top5"} per
    token (T = 1)."""
    if not context:
        raise UserError("empty prompt: nothing to condition on")
    if not continuation:
        return {"logprob": [], "entropy_bits": [], "top5_entropy_bits": [], "top5": []}
    ids = list(context) + list(continuation)
    check_length(lm, len(ids), f"the text ({len(ids)} tokens)")
    dev = lm.input_device
    x = torch.tensor([ids], device=dev)
    body = body_and_head(lm.model)[0]
    out = run(body, input_ids=x, attention_mask=torch.ones_like(x), position_ids=torch.arange(len(ids), device=dev)[None],
               use_cache=False)
    hidden = out.last_hidden_state[0, len(context) - 1:len(ids) - 1]
    lp = checked_log_softmax(head_logits(lm.model, hidden))
    cont = torch.tensor(continuation, dtype=torch.long, device=lp.device)
    token_lp = lp.gather(1, cont[:, None])[:, 0].double().cpu().numpy()
    ent, top_ent, top_lp, top_ids = distribution_stats(lp)
    return {"logprob": token_lp.tolist(), "entropy_bits": ent.tolist(), "top5_entropy_bits": top_ent.tolist(),
            "top5": [[[int(t), float(np.exp(v))] for t, v in zip(ti, tv)] for ti, tv in zip(top_ids.tolist(), top_lp.tolist())]}
