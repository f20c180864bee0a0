"""KV-cache sessions: N parallel conversations that share one prompt.

    s = Session(lm, prompt_ids, n=100)          # one forward of the prompt, forked to 100 rows
    dists = s.read_answers(space)               # exact answers at each row's position
    s.append_text(["... row 0 ...", ...])       # forward only the new tokens of every row
    texts = s.sample(stop="\\n", rngs=...)       # seeded continuation per row

How rows stay exact. Every layer keeps a full layer (no sliding truncation), appended in place
(`cache.GrowingLayer`). A round's
new chunks differ in length, so they are right-padded, the 2-D attention mask carries zeros on
the pads, and `position_ids` continue each row's own real length; logits are taken from each row's
last real hidden state. After the forward the cache is **compacted**: each row's real entries are
moved to the right end, so between rounds a row has no holes, only left padding. Sliding-window
layers (Gemma-3) measure their window in cache slots, which then equals the distance in
positions, so they stay exact too (holes would shrink the window; see NOTES).

Shared histories. Rows are conversations; the cache holds **slots**, one per distinct token
history. `Session(lm, prompt, n)` is one slot that n rows point to; an append gives two rows
the same new slot when they had the same slot and get the same new ids, so a history shared by
many games (every game's first round, a deterministic player's usual lines) is forwarded and
read once. Rows only fork, when their ids differ, by copying the parent slot's cache rows.
`logprobs` and `read_answers` are per row; `n_slots` and `tokens_forwarded` show the saving.

On an accelerator a step never waits for the device: lengths and which slots moved are kept on
the host, the compaction is skipped when every slot got as many tokens (a decode step), and the
logits' NaN/inf check is a device flag read when results are (`check`).

Token boundaries: a row's text is always re-tokenised whole; the ids of what was already
forwarded must be a prefix of the new ids, else `TokenDriftError` (never silent drift). Append at
newline or word boundaries (the game templates do).
"""
from __future__ import annotations

import torch

from ...errors import UserError
from ...limits import MIN_MASS
from .answers import AnswerDist, Roots, expand_exact
from .first_token import first_token
from .cache import growing_cache, kv_bytes_per_token, select_rows, set_kv
from .forward import body_and_head, cache_kwargs, check_length, checked_log_softmax, head_logits, log_softmax_flagged, \
    raise_unless_finite, run, take_positions, to_device
from ..models.formats import encode_text
from .sampling import sample_with_uniforms, transform


class TokenDriftError(UserError):
    """Appending text changed the tokenisation of text already in the cache."""


class Session:
    """N conversations with one KV-cache row each. `texts[i]`/`ids[i]` are row i's conversation."""

    def __init__(self, lm, prompt: list[int] | str, n: int):
        if n < 1:
            raise UserError("a session needs at least one row")
        self.lm = lm
        ids = list(prompt) if not isinstance(prompt, str) else encode_text(lm.tokenizer, prompt)
        if not ids:
            raise UserError("empty prompt: nothing to condition on")
        check_length(lm, len(ids), f"the prompt ({len(ids)} tokens)")
        self.texts = [lm.tokenizer.decode(ids) if isinstance(prompt, list) else prompt] * n
        self.ids = [list(ids) for _ in range(n)]
        self.tokens_forwarded = 0
        dev = lm.input_device
        cache = growing_cache()   # full layers appended in place, on every layer (see module doc)
        x = torch.tensor([ids], device=dev)
        with torch.inference_mode():
            body = body_and_head(lm.model)[0]
            out = run(body, input_ids=x, attention_mask=torch.ones_like(x), position_ids=torch.arange(len(ids), device=dev)[None],
                       **cache_kwargs(body, cache))
            lp = checked_log_softmax(head_logits(lm.model, out.last_hidden_state[:, -1]))
        self.tokens_forwarded += len(ids)
        # one slot (the prompt) shared by all n rows
        self.slot = [0] * n
        self.cache = cache
        self.mask = torch.ones(1, len(ids), dtype=torch.long, device=dev)
        self.lengths = torch.full((1,), len(ids), dtype=torch.long, device=dev)
        self.slot_len = [len(ids)]               # the same lengths on the host
        self.slot_logprobs = lp
        self._unchecked: list = []               # NaN/inf flags of forwards not yet read

    @property
    def n(self) -> int:
        return len(self.ids)

    @property
    def n_slots(self) -> int:
        return len(self.slot_len)

    @property
    def logprobs(self) -> torch.Tensor:
        """Next-token log-probs of every row [n, vocab] (checked finite)."""
        self.check()
        return self.slot_logprobs[self._slot_index(self.slot_logprobs.device)]

    def check(self) -> None:
        """Raise ModelError if any forward since the last check produced NaN/inf logits (one wait
        for the device, where the caller reads results anyway)."""
        flags, self._unchecked = self._unchecked, []
        raise_unless_finite(flags)

    def pending_flags(self) -> list:
        """The unread NaN/inf flags (device tensors), handed to a caller that copies them back with
        its own results (generation); they are then the caller's to check."""
        flags, self._unchecked = self._unchecked, []
        return flags

    def _slot_index(self, device=None) -> torch.Tensor:
        return torch.tensor(self.slot, dtype=torch.long, device=device)

    def _take_slots(self, parents: list[int]) -> None:
        """Slot j becomes a copy of old slot parents[j] (forks and drops); no copy when unchanged."""
        if parents == list(range(self.n_slots)):
            return
        self.cache, self.mask, self.lengths, self.slot_len, self.slot_logprobs = self._slots_of(parents)

    def _slots_of(self, parents: list[int]) -> tuple:
        """(cache, mask, lengths, slot_len, slot_logprobs) of the slots `parents`, in new tensors."""
        idx = torch.tensor(parents, dtype=torch.long)
        dev = self.mask.device
        return (select_rows(self.cache, idx), self.mask[idx.to(dev)], self.lengths[idx.to(dev)],
                [self.slot_len[p] for p in parents], self.slot_logprobs[idx.to(self.slot_logprobs.device)])

    # ------------------------------------------------------------------ appending
    @torch.inference_mode()
    def append(self, chunks: list[list[int]], read: bool = True) -> torch.Tensor | None:
        """Forward each row's new token ids (ragged; a row may get none); returns next-token
        log-probs [n, vocab] (None with `read=False`: read `slot_logprobs` per slot instead).
        Rows with the same history and the same new ids share one slot."""
        if len(chunks) != self.n:
            raise ValueError(f"{len(chunks)} chunks for {self.n} rows")
        chunks = [list(c) for c in chunks]
        for i, c in enumerate(chunks):
            self.ids[i].extend(c)
        new_slot, parents, slot_chunks = {}, [], []
        for i, c in enumerate(chunks):
            key = (self.slot[i], tuple(c))
            if key not in new_slot:
                new_slot[key] = len(parents)
                parents.append(self.slot[i])
                slot_chunks.append(c)
            self.slot[i] = new_slot[key]
        self._take_slots(parents)
        if any(slot_chunks):
            self._forward(slot_chunks)
        return self.logprobs if read else None

    def _forward(self, chunks: list[list[int]]) -> None:
        """Forward each slot's new ids (right-padded), then compact the cache. Built on the host
        from the chunks' lengths: nothing here waits for the device. When every slot gets as many
        ids (a decode step) the padding, the last-position gather and the compaction are left out."""
        n, dev = len(chunks), self.lm.input_device
        counts = [len(c) for c in chunks]
        width = max(counts)
        even = min(counts) == width
        if even:
            ids, new_mask = torch.tensor(chunks, dtype=torch.long), None
            mask = torch.nn.functional.pad(self.mask, (0, width), value=1)
        else:
            ids = torch.tensor([c + [self.lm.pad_id] * (width - len(c)) for c in chunks], dtype=torch.long)
            new_mask = to_device(torch.tensor([[1] * len(c) + [0] * (width - len(c)) for c in chunks]), dev)
            mask = torch.cat([self.mask, new_mask], -1)
        pos = self.lengths[:, None] if width == 1 else \
            self.lengths.unsqueeze(-1) + torch.arange(width, device=dev).unsqueeze(0)
        base = body_and_head(self.lm.model)[0]
        out = run(base, input_ids=to_device(ids, dev), attention_mask=mask, position_ids=pos, **cache_kwargs(base, self.cache))
        moved = [i for i, k in enumerate(counts) if k]      # slots given an empty chunk keep their distribution
        last = out.last_hidden_state[:, -1] if even else \
            take_positions(out.last_hidden_state, moved, [counts[i] - 1 for i in moved])
        new, ok = log_softmax_flagged(head_logits(self.lm.model, last))
        self._unchecked.append(ok)
        if len(moved) == n:
            self.slot_logprobs = new if new.device == self.slot_logprobs.device else new.to(self.slot_logprobs.device)
        else:
            lp = self.slot_logprobs.clone()
            lp[torch.tensor(moved, device=lp.device)] = new.to(lp.device)
            self.slot_logprobs = lp
        self.tokens_forwarded += sum(counts)
        self.slot_len = [a + b for a, b in zip(self.slot_len, counts)]
        self.mask = mask if even else _compact(self.cache, mask, self.slot_len, holes=True)
        self.lengths = self.lengths + width if even else self.lengths + new_mask.sum(-1)

    def append_text(self, chunks: list[str]) -> torch.Tensor:
        """Append text to each row; the row's whole text is re-tokenised and must extend the ids
        already forwarded (else TokenDriftError)."""
        deltas = []
        for i, chunk in enumerate(chunks):
            full = encode_text(self.lm.tokenizer, self.texts[i] + chunk)
            done = self.ids[i]
            if full[:len(done)] != done:
                k = next((j for j, (a, b) in enumerate(zip(full, done)) if a != b), len(full))
                raise TokenDriftError(
                    f"row {i}: appending {chunk[:30]!r} re-tokenises text already in the cache at token {k}; "
                    "append at a newline or word boundary")
            deltas.append(full[len(done):])
            self.texts[i] = self.texts[i] + chunk
        return self.append(deltas)

    # ------------------------------------------------------------------ reading
    def roots(self, slots=None) -> Roots:
        """Slots as roots of an answer expansion (all slots share the session's tensors: expansion
        only reads them)."""
        if slots is None:
            return Roots(self.cache, self.mask, self.lengths, self.slot_logprobs, forwards=0)
        idx = torch.as_tensor(slots, dtype=torch.long)
        dev = self.mask.device
        return Roots(select_rows(self.cache, idx), self.mask[idx.to(dev)], self.lengths[idx.to(dev)],
                     self.slot_logprobs[idx.to(self.slot_logprobs.device)], forwards=0)

    def read_answers(self, space, *, method="exact", temperature=1.0, top_p=1.0, min_mass=1e-6,
                     rows=None) -> list[AnswerDist]:
        """Answer distributions at each row's (or each of `rows`') current position, read once
        per slot; the session is not changed."""
        self.check()
        MIN_MASS.check(min_mass, "min_mass")
        rows = range(self.n) if rows is None else list(rows)
        slots = sorted({self.slot[i] for i in rows})
        every = slots == list(range(self.n_slots))
        if method == "first-token":
            lp = self.slot_logprobs if every else self.slot_logprobs[torch.as_tensor(slots)]
            got = first_token(self.lm, lp, space, temperature=temperature, top_p=top_p)
        else:
            got = expand_exact(self.lm, self.roots(None if every else slots), space, temperature=temperature,
                               top_p=top_p, min_mass=min_mass)
        at = {s: j for j, s in enumerate(slots)}
        return [got[at[self.slot[i]]] for i in rows]

    # ------------------------------------------------------------------ sampling and rows
    @torch.inference_mode()
    def sample(self, rngs, *, max_new_tokens=64, stop: str | None = "\n", temperature=1.0,
               top_p=1.0) -> list[str]:
        """Sample a continuation per row (one numpy Generator per row, so results do not depend
        on batch composition) until `stop` appears in its text (leading whitespace aside), EOS, or
        `max_new_tokens`. The sampled tokens are appended to the rows; returns each row's new text
        (stop included)."""
        tok = self.lm.tokenizer
        longest = max(len(r) for r in self.ids)
        check_length(self.lm, longest + max_new_tokens, f"the text ({longest} tokens) + {max_new_tokens} new tokens")
        ends = set(tok.all_special_ids)
        gen = [[] for _ in range(self.n)]
        done = [False] * self.n
        for _ in range(max_new_tokens):
            self.check()
            lp = transform(self.slot_logprobs.cpu(), temperature, top_p)[self._slot_index()]
            u = [rng.random() for rng in rngs]
            picks = sample_with_uniforms(lp, u).tolist()
            chunks = []
            for i, t in enumerate(picks):
                if done[i]:
                    chunks.append([])
                    continue
                gen[i].append(t)
                chunks.append([t])
                if t in ends or (stop and stop in tok.decode(gen[i], skip_special_tokens=True).lstrip()):
                    done[i] = True
            self.append(chunks)
            if all(done):
                break
        out = []
        for i in range(self.n):
            text = tok.decode(gen[i], skip_special_tokens=True)
            self.texts[i] += text
            out.append(text)
        return out

    def keep(self, rows) -> None:
        """Keep only these rows (drop finished games), in this order; unused slots are freed.
        A row given twice is forked (two rows with one history, each then growing on its own)."""
        parents, slots = self._renumber(rows)
        self._take_slots(parents)
        self._set_rows(rows, slots)

    def copy(self, rows) -> "Session":
        """A new session holding copies of these rows (repeats fork) in a cache of its own; this
        session is not changed (e.g. one prompt prefilled once, copied for each batch of samples)."""
        parents, slots = self._renumber(rows)
        new = object.__new__(Session)
        new.lm, new.tokens_forwarded, new._unchecked = self.lm, 0, list(self._unchecked)
        new.cache, new.mask, new.lengths, new.slot_len, new.slot_logprobs = self._slots_of(parents)
        new._set_rows(rows, slots, source=self)
        return new

    def _renumber(self, rows) -> tuple[list[int], list[int]]:
        """(the slots these rows use, in first-use order; each row's new slot number)."""
        rows = [int(i) for i in rows]
        if not rows:
            raise UserError("a session needs at least one row")
        renum: dict[int, int] = {}
        for i in rows:
            renum.setdefault(self.slot[i], len(renum))
        return list(renum), [renum[self.slot[i]] for i in rows]

    def _set_rows(self, rows, slots, source=None) -> None:
        """Rows `rows` of `source` (default: this session), each with its own list of ids."""
        source = source or self
        self.ids = [list(source.ids[int(i)]) for i in rows]
        self.texts = [source.texts[int(i)] for i in rows]
        self.slot = slots


def _compact(cache, mask, lengths: list[int], holes: bool):
    """Move each row's real cache entries to the right end (left padding only); returns the new mask.
    `lengths` are the rows' real lengths (host); without `holes` (every row got as many new tokens)
    the mask is still left-padded and nothing moves. Layers appended in place keep their buffers:
    the gathered entries are copied back into them (the temporary has the same size every layer,
    so the allocator reuses one block)."""
    width = max(lengths)
    if not holes and width == mask.shape[1]:
        return mask
    counts = torch.tensor(lengths, device=mask.device)
    aligned = (torch.arange(width, device=mask.device).unsqueeze(0) >= (width - counts).unsqueeze(-1)).long()
    # a stable sort puts each row's pad slots first and its real slots last, in their order
    src = torch.argsort(mask, dim=-1, stable=True)[:, mask.shape[1] - width:]
    for layer in cache.layers:
        if getattr(layer, "is_initialized", False) and layer.keys is not None and layer.keys.numel():
            g = src.to(layer.keys.device)[:, None, :, None].expand(-1, layer.keys.shape[1], -1, layer.keys.shape[3])
            keys, values = torch.gather(layer.keys, 2, g), torch.gather(layer.values, 2, g)
            if hasattr(layer, "keep_in_place"):
                layer.keep_in_place(keys, values)
            else:
                set_kv(layer, keys, values)
    return aligned


def rows_per_chunk(lm, tokens_per_row: int, *, memory_bytes: int | None = None, fraction: float = 0.5) -> int:
    """How many session rows fit: KV bytes per token x tokens per row against free memory
    (`memory_bytes`, else `fraction` of free GPU memory or of available RAM)."""
    dtype_bytes = next(lm.model.parameters()).element_size()
    per_row = kv_bytes_per_token(lm.model.config, dtype_bytes) * max(tokens_per_row, 1) * 3  # cache + copies
    if memory_bytes is None:
        dev = lm.input_device
        if dev.type == "cuda":
            memory_bytes = int(torch.cuda.mem_get_info(dev)[0] * fraction)
        else:
            import psutil
            memory_bytes = int(psutil.virtual_memory().available * fraction)
    return max(1, memory_bytes // per_row)
