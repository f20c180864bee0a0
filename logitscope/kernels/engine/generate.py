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

from ...errors import ModelError, UserError
from .forward import body_and_head, check_length, checked_log_softmax, head_logits, run, \
    to_device
from .sampling import check_settings, row_rng, transform
from .session import Session, rows_per_chunk
from .table import TOP, slot_stats, step_table
from .vocab import vocab_index

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
    ent, top_ent, vals, ids = slot_stats(lp, p, k)
    return ent.cpu(), top_ent.cpu(), vals.double().cpu(), ids.cpu()


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
             greedy: bool = False, infix: str = "", on_step=None, compile: str | bool | None = None) -> list[Sample]:
    """Samples `indices` (default 0..n-1) of continuations of `prompt` (a user prompt, rendered in
    the LM's format with `infix`; or token ids, used as they are). `greedy` takes the most likely
    token instead of drawing. `compile` ("auto" | "on" | "off"; default: the LM's setting, see
    `load_model`) decodes on static slots with the compiled step (`static.py`); the texts and
    numbers are the eager loop's. Returns one `Sample` per index, in order."""
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
    from .compiled import use_static
    static = use_static(lm, compile)
    root = Session(lm, ids, 1)
    out = []
    width = min(batch, len(indices))                   # every chunk in one bucket (the last one padded)
    for s in range(0, len(indices), batch):
        chunk = indices[s:s + batch]
        if static is not None:
            steps = _StaticSteps(static, root, len(chunk), width, max_new_tokens, temperature, top_p, greedy)
        else:
            steps = _EagerSteps(root.copy([0] * len(chunk)), temperature, top_p, greedy)
        out += _run(steps, chunk, max_new_tokens, seed, stop, greedy, on_step)
    return out


class _EagerSteps:
    """The loop's device side on a `Session` (eager): rows share slots until their tokens differ,
    finished rows are dropped once they are an eighth of the batch."""

    def __init__(self, session, temperature, top_p, greedy):
        self.session, self.temperature, self.top_p, self.greedy = session, temperature, top_p, greedy
        self.lm, self.dev, self.vocab = session.lm, session.slot_logprobs.device, session.slot_logprobs.shape[-1]
        self.width = session.n                         # the batch's rows (uniform numbers per row)
        self.live_rows = None                          # the rows of `uniforms` the session rows are
        self._slot_list, self._slots = None, None      # session.slot, and as a device tensor

    def table(self, uniforms) -> torch.Tensor:
        """The step's table for the session's rows (uniforms: [rows of the batch] on the device)."""
        session = self.session
        model_lp = session.slot_logprobs
        lp = transform(model_lp, self.temperature, self.top_p)
        session.pending_flags()                        # a NaN/inf logit shows as a NaN entropy in the table
        u = None if self.greedy else (uniforms if self.live_rows is None else uniforms[self.live_rows])
        if session.slot != self._slot_list:            # rows on new slots (a fork, a merge, a drop)
            self._slot_list = list(session.slot)
            self._slots = to_device(torch.tensor(self._slot_list, dtype=torch.long), self.dev)
        return step_table(model_lp, lp, self._slots, u)

    @staticmethod
    def row_order(live) -> list:
        """The batch rows of the table's rows: the rows still in the session."""
        return live

    def advance(self, picks, done, live, uniforms) -> torch.Tensor:
        """Feed each live row its pick (a finished row a pad token) and return the next table;
        `live` lists the batch rows still in the session (changed here when finished rows go)."""
        pad = self.session.lm.pad_id
        chunks = [[pad] if done[r] else [t] for r, t in zip(live, picks)]
        finished = [j for j, r in enumerate(live) if done[r]]
        if finished and len(finished) * 8 >= len(live):
            keep = [j for j, r in enumerate(live) if not done[r]]
            self.session.keep(keep)
            chunks = [chunks[j] for j in keep]
            live[:] = [live[j] for j in keep]
            self.live_rows = to_device(torch.tensor(live, dtype=torch.long), self.dev)
        self.session.append(chunks, read=False)
        return self.table(uniforms)


class _StaticSteps:
    """The loop's device side on static slots with the captured step (`static.DecodeStep`): the
    prompt's slot loaded into every slot of a bucket; each step the host turns the rows' picks into
    slots (rows with one slot and one pick share the new slot; finished rows share one), gathers
    in place when that changed, and runs the step, which returns the next table. The slots are
    `width`'s bucket, so a call's last, smaller chunk reuses the first one's buffers and graph."""

    def __init__(self, static, root, rows, width, max_new_tokens, temperature, top_p, greedy):
        from .static import bucket
        self.lm, self.rows = root.lm, rows
        self.width = bucket(max(rows, width))
        self.slots = static.slots(self.width, root.slot_len[0] + max_new_tokens)
        self.slots.load(root, 0)
        self.step = static.step(temperature, top_p, greedy)
        self.root, self.temperature, self.top_p, self.greedy = root, temperature, top_p, greedy
        self.slot = [0] * rows                         # each batch row's slot
        self.dev, self.vocab = self.slots.device, root.slot_logprobs.shape[-1]
        self.row_slot = self._row_slot()

    def _row_slot(self) -> torch.Tensor:
        return to_device(torch.tensor(self.slot + [0] * (self.width - self.rows), dtype=torch.long), self.dev)

    def row_order(self, live) -> range:
        """The batch rows of the table's rows: all of them, in order (then padding rows to the bucket)."""
        return range(self.rows)

    def table(self, uniforms) -> torch.Tensor:
        """The first table, from the prefilled prompt (eager; every row on slot 0)."""
        model_lp = self.root.slot_logprobs
        lp = transform(model_lp, self.temperature, self.top_p)
        self.root.check()
        first = torch.zeros(self.rows, dtype=torch.long, device=model_lp.device)
        return step_table(model_lp, lp, first, None if self.greedy else uniforms[:self.rows])

    def advance(self, picks, done, live, uniforms) -> torch.Tensor:
        new, parents, ids = {}, [], []
        for r, t in enumerate(picks):
            key = (-1, -1) if done[r] else (self.slot[r], t)
            if key not in new:
                new[key] = len(parents)
                parents.append(self.slot[r])
                ids.append(self.lm.pad_id if done[r] else t)
            self.slot[r] = new[key]
        if parents != list(range(len(parents))):
            self.slots.gather(to_device(torch.tensor(parents + list(range(len(parents), self.width))), self.dev))
            self.row_slot = self._row_slot()
        ids += [self.lm.pad_id] * (self.width - len(ids))
        return self.step(self.slots, to_device(torch.tensor(ids, dtype=torch.long), self.dev), self.row_slot, uniforms)


def _run(steps, chunk, max_new_tokens, seed, stop, greedy, on_step) -> list[Sample]:
    """The loop. Each step is computed where the model is (statistics, draws and the picked tokens'
    log-probs for every row, as one [rows, 5 + 2 x TOP] table, `table.step_table`) and copied back
    once; the rows' uniform numbers are drawn up front (one per token from each row's own
    generator, exactly the numbers a draw per step would take) and sent to the device once."""
    lm = steps.lm
    rows = [_Row(i, seed, greedy) for i in chunk]
    token_bytes = vocab_index(lm.tokenizer, steps.vocab).token_bytes
    live = list(range(len(rows)))                      # the eager session's row j is rows[live[j]]
    uniforms = None
    if not greedy:
        u = np.full((max_new_tokens, steps.width), 0.5)
        u[:, :len(rows)] = np.stack([r.rng.random(max_new_tokens) for r in rows], 1)
        uniforms = to_device(torch.from_numpy(u), steps.dev)
    table_d = steps.table(None if greedy else uniforms[0])
    for step in range(max_new_tokens):
        order = steps.row_order(live)
        mine = table_d.cpu().numpy()[:len(order)]      # the step's one copy back
        if not np.isfinite(mine[:, 3]).all():
            raise ModelError("the model produced NaN/inf logits; try --dtype fp32 or no quantisation")
        picks = mine[:, 0].astype(np.int64).tolist()
        for j, r in enumerate(order):
            row, t, h = rows[r], picks[j], mine[j]
            if row.done:                                # finished: fed a pad token until dropped
                continue
            alts = list(zip(h[5 + TOP:5 + 2 * TOP].astype(np.int64).tolist(), h[5:5 + TOP].tolist()))
            row.add(t, token_bytes[t] if t < len(token_bytes) else None, float(h[1]), float(h[2]), float(h[3]),
                    float(h[4]), alts, stop)
        if on_step:
            on_step(sum(not rows[r].done for r in order))
        if step + 1 == max_new_tokens or all(r.done for r in rows):
            break
        done = [r.done for r in rows]
        table_d = steps.advance(picks, done, live, None if greedy else uniforms[step + 1])
    for r in rows:
        if r.sample.finish != "eos":                   # flush a character cut off at the end
            r.sample.pieces[-1] += r.utf8.decode(b"", final=True)
        r.sample._tokenizer = lm.tokenizer
    return [r.sample for r in rows]


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
