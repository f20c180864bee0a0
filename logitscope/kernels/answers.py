"""Exact answer distributions: P(the continuation spells answer A), summed over every tokenisation.

The continuation is expanded token by token from the prompt's KV cache. At each step every live
branch (text so far is whitespace, a prefix of a surface form, or a complete form waiting for its
boundary) is classified against the whole vocabulary at once through a byte trie of the token
strings (`vocab.VocabIndex`, tokens sorted by bytes so each prefix is one contiguous range):

- tokens that complete a form and a boundary ("7.", "7\\n", " 7 ...") add their mass to the answer,
- tokens that keep the text live ("1" on the way to "10", " ", "\\n") become branches of the
  next step, all forwarded together in one batched pass that shares the prompt's cache,
- everything else is invalid. Branches below `min_mass` are pruned and counted as unexplored.

valid (per answer) + invalid + unexplored = 1 (float64 accounting). See `spaces` for the rule.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..errors import UserError
from .forward import body_and_head, checked_log_softmax, head_logits, left_pad, positions_from_mask
from .sampling import check_settings, transform
from .spaces import INVALID, VALID, AnswerSpace, Matcher, parse_answers
from .vocab import VocabIndex, vocab_index

MAX_STEPS = 12
MAX_ROWS = 256
MAX_BRANCHES = 2048   # per root and step


@dataclass(frozen=True)
class AnswerDist:
    """Answer probabilities with all mass accounted. `answers` are absolute probabilities;
    `renormalised` are conditional on a valid answer (divide by `valid_mass`)."""
    answers: dict
    valid_mass: float
    invalid_mass: float
    unexplored_mass: float
    method: str
    temperature: float = 1.0
    top_p: float = 1.0
    forwards: int = 0
    exact: bool = True

    @property
    def renormalised(self) -> dict:
        total = sum(self.answers.values())
        return {a: (p / total if total > 0 else float("nan")) for a, p in self.answers.items()}

    def to_json(self) -> dict:
        return {"answers": self.answers, "renormalised": self.renormalised,
                "valid_mass": self.valid_mass, "invalid_mass": self.invalid_mass,
                "unexplored_mass": self.unexplored_mass, "method": self.method,
                "exact": self.exact, "temperature": self.temperature, "top_p": self.top_p,
                "forwards": self.forwards}


def uniform_dist(space: AnswerSpace, method: str = "uniform") -> AnswerDist:
    k = len(space.labels)
    return AnswerDist({a: 1.0 / k for a in space.labels}, 1.0, 0.0, 0.0, method)


class AnswerIndex:
    """What each branch text can become, for one (vocabulary, answer space): memoised walks."""

    def __init__(self, vocab: VocabIndex, space: AnswerSpace):
        self.vocab, self.space, self.matcher = vocab, space, Matcher(space)
        self.slot = {a: i for i, a in enumerate(space.labels)}
        self.order = torch.tensor(vocab.order, dtype=torch.long)
        self.end_ids = torch.tensor(vocab.end_ids, dtype=torch.long)
        self.order_np = np.asarray(vocab.order, dtype=np.int64)
        self._walks: dict[bytes, tuple] = {}
        self._walk_ids: dict[bytes, tuple] = {}
        self.check_spellable()

    def walk(self, text: bytes):
        """(valid ranges [(slot, lo, hi)], live children [(new text, token ids array)]) for a
        branch whose text is `text`: a depth-first walk of the token trie that only visits
        bytes the matcher allows."""
        if text not in self._walks:
            valid, live = [], []
            self._walk(text, 0, 0, len(self.vocab.order), valid, live)
            self._walks[text] = (valid, [(t, np.array(ids, dtype=np.int64)) for t, ids in live])
        return self._walks[text]

    def walk_ids(self, text: bytes):
        """`walk` with each answer's valid token ids gathered into one array per answer."""
        if text not in self._walk_ids:
            valid, live = self.walk(text)
            per = {}
            for slot, a, b in valid:
                per.setdefault(slot, []).append(self.order_np[a:b])
            self._walk_ids[text] = ([(slot, np.concatenate(parts)) for slot, parts in per.items()], live)
        return self._walk_ids[text]

    def _walk(self, text, depth, lo, hi, valid, live):
        vi, m = self.vocab, self.matcher
        start = vi.exact_end(depth, lo, hi)
        if start > lo:   # tokens that end exactly here (at depth 0: tokens that spell nothing)
            live.append((text, vi.order[lo:start]))
        for byte in sorted(m.candidates(text)):
            status, answer, new = m.step(text, byte)
            if status == INVALID:
                continue
            a, b = vi.child_range(depth, byte, start, hi)
            if a == b:
                continue
            if status == VALID:
                valid.append((self.slot[answer], a, b))
            else:
                self._walk(new, depth + 1, a, b, valid, live)

    def check_spellable(self) -> None:
        """Every answer must be spellable by some token sequence of this vocabulary."""
        for answer, forms in self.space.forms:
            if not any(self._spellable(f.encode("utf-8")) for f in forms):
                raise UserError(f"answer '{answer}' (forms {', '.join(forms)}) cannot be spelled by any "
                                "token sequence of this model's vocabulary")

    def _spellable(self, form: bytes) -> bool:
        vi, reach = self.vocab, {0}
        for i in range(len(form) + 1):
            if i not in reach:
                continue
            if i == len(form):
                return True
            for j in range(i + 1, len(form) + 1):
                if vi.ids_with_bytes(form[i:j]) or (i == 0 and any(vi.ids_with_bytes(w + form[:j]) for w in (b" ", b"\n"))):
                    reach.add(j)
            if any(vi.has_prefix(form[i:] + bytes([c])) for c in b" .,\n"):
                return True
        return False


_INDEXES: dict = {}


def answer_index(lm, space: AnswerSpace) -> AnswerIndex:
    vocab_size = lm.model.get_output_embeddings().weight.shape[0]
    key = (id(lm.tokenizer), vocab_size, space)
    if key not in _INDEXES:
        _INDEXES[key] = AnswerIndex(vocab_index(lm.tokenizer, vocab_size), space)
    return _INDEXES[key]


@dataclass
class Roots:
    """Where expansion starts: R rows of a KV cache (full, left-padded, no holes) with their
    attention mask, the position of each row's next token and next-token log-probs [R, vocab]."""
    cache: object
    mask: torch.Tensor
    next_pos: torch.Tensor
    logprobs: torch.Tensor
    forwards: int = field(default=1)

    def layers(self) -> list[tuple]:
        return [(layer.keys, layer.values) for layer in self.cache.layers]


@torch.inference_mode()
def prefill(lm, rows: list[list[int]]) -> Roots:
    """One left-padded forward of the prompts, keeping a full (never window-truncated) cache."""
    from transformers import DynamicCache
    if not rows or any(len(r) == 0 for r in rows):
        raise UserError("empty prompt: nothing to condition on")
    ids, mask = left_pad(rows, lm.pad_id, lm.input_device)
    out = lm.model(input_ids=ids, attention_mask=mask, position_ids=positions_from_mask(mask),
                   past_key_values=DynamicCache(), use_cache=True, logits_to_keep=1)
    return Roots(out.past_key_values, mask, mask.sum(-1), checked_log_softmax(out.logits[:, -1]))


@torch.inference_mode()
def expand_exact(lm, roots: Roots, space: AnswerSpace, *, temperature=1.0, top_p=1.0,
                 min_mass=1e-6, max_steps=MAX_STEPS, max_branches=MAX_BRANCHES) -> list[AnswerDist]:
    """Exact answer distributions for each root row (the roots are not modified).

    Branches are expanded as a token tree on top of their root's cache row (tree attention): at
    each step all live branches of a root are forwarded together as the queries of that root's
    row, each attending to the root's tokens, its own ancestors and itself through an explicit
    4-D mask (per layer type, so sliding windows stay exact). The root's cache is never copied
    per branch. Roots are processed in memory-bounded groups.

    Pruning is explicit: branches below `min_mass`, past `max_steps` tokens, or beyond the
    `max_branches` heaviest of a root at a step are counted in `unexplored_mass`."""
    check_settings(temperature, top_p)
    idx = answer_index(lm, space)
    n_roots, k = roots.logprobs.shape[0], len(space.labels)
    acc = _Accounts(n_roots, k)
    forwards = 0
    group = root_group_size(lm, roots.mask.shape[1])
    for s in range(0, n_roots, group):
        rows = list(range(s, min(n_roots, s + group)))
        forwards = max(forwards, _expand_group(lm, idx, roots, rows, acc, temperature, top_p, min_mass,
                                               max_steps, max_branches))
    dists = []
    for r in range(n_roots):
        dists.append(AnswerDist({a: float(acc.valid[r, s]) for a, s in idx.slot.items()},
                                float(acc.valid[r].sum()), float(acc.invalid[r]), float(acc.unexplored[r]),
                                "exact", temperature, top_p, roots.forwards + forwards))
    return dists


class _Accounts:
    def __init__(self, n, k):
        self.valid, self.invalid, self.unexplored = np.zeros((n, k)), np.zeros(n), np.zeros(n)


def root_group_size(lm, length: int, *, budget_bytes: int | None = None, tree: int = 256) -> int:
    """Roots expanded together: their cache rows plus a token tree of about `tree` slots, about
    three copies each, within `budget_bytes` (default 2 GiB on CPU, a quarter of free GPU memory)."""
    from .cache import kv_bytes_per_token
    dev = lm.input_device
    if budget_bytes is None:
        budget_bytes = int(torch.cuda.mem_get_info(dev)[0] // 4) if dev.type == "cuda" else 2 << 30
    dtype_bytes = next(lm.model.parameters()).element_size()
    per_row = 3 * kv_bytes_per_token(lm.model.config, dtype_bytes) * (length + tree)
    return int(max(1, min(MAX_ROWS, budget_bytes // per_row)))


def _expand_group(lm, idx, roots, rows, acc, temperature, top_p, min_mass, max_steps, max_branches) -> int:
    """Expand the roots `rows`; returns the number of forward passes."""
    dev = lm.input_device
    sel = torch.tensor(rows, dtype=torch.long)
    whole = len(rows) == roots.logprobs.shape[0]
    kv = [(kk, vv) if whole or kk is None else (kk.index_select(0, sel.to(kk.device)), vv.index_select(0, sel.to(vv.device)))
          for kk, vv in roots.layers()]
    root_mask = roots.mask[sel.to(roots.mask.device)].bool().to(dev)          # [R, L]
    next_pos = roots.next_pos[sel.to(roots.next_pos.device)].to(dev)           # [R]
    slot_pos = (root_mask.long().cumsum(-1) - 1).clamp(min=0)                  # [R, L] positions of cache slots
    row_of = {r: i for i, r in enumerate(rows)}                                # root -> row of the cache tensors
    # live branches: root, kv columns of its own tokens (ancestors first), text, mass
    branches = [(r, [], b"", 1.0) for r in rows]
    lp = roots.logprobs[sel.to(roots.logprobs.device)]
    forwards = 0
    for depth in range(max_steps + 1):
        kids = _classify(idx, branches, lp, temperature, top_p, min_mass, depth == max_steps, acc)
        kids = _cap_per_root(kids, branches, max_branches, acc)
        if not kids:
            break
        # group the kids by root: one cache row each, the kids are that row's queries
        by_root: dict[int, list] = {}
        for kid in kids:
            by_root.setdefault(branches[kid[0]][0], []).append(kid)
        live = sorted(by_root, key=lambda r: row_of[r])
        keep = torch.tensor([row_of[r] for r in live], dtype=torch.long, device=dev)
        if len(live) < root_mask.shape[0]:
            kv = [(kk, vv) if kk is None else (kk.index_select(0, keep.to(kk.device)), vv.index_select(0, keep.to(vv.device)))
                  for kk, vv in kv]
            root_mask, next_pos, slot_pos = root_mask[keep], next_pos[keep], slot_pos[keep]
            row_of = {r: i for i, r in enumerate(live)}
        n_rows, n_q, n_cols = len(live), max(len(v) for v in by_root.values()), slot_pos.shape[1]
        ids = torch.full((n_rows, n_q), lm.pad_id, dtype=torch.long)
        see = torch.zeros((n_rows, n_q, n_cols + n_q), dtype=torch.bool)
        see[:, :, :root_mask.shape[1]] = root_mask.cpu().unsqueeze(1)
        see[:, torch.arange(n_q), n_cols + torch.arange(n_q)] = True            # every query sees itself
        new_branches, where = [], []
        for i, r in enumerate(live):
            for q, (b, tok, text, m) in enumerate(by_root[r]):
                ids[i, q] = tok
                path = branches[b][1]
                if path:
                    see[i, q, path] = True
                new_branches.append((r, path + [n_cols + q], text, m))
                where.append((i, q))
        pos = (next_pos + depth).unsqueeze(-1).expand(n_rows, n_q)
        slot_pos = torch.cat([slot_pos, pos], -1)
        see = see.to(dev)
        body = body_and_head(lm.model)[0]
        out = body(input_ids=ids.to(dev), attention_mask=_masks(lm.model, see, pos, slot_pos),
                   position_ids=pos, past_key_values=_cache_of(kv), use_cache=True)
        forwards += 1
        kv = [(layer.keys, layer.values) for layer in out.past_key_values.layers]
        hidden = out.last_hidden_state
        wi = torch.tensor(where, dtype=torch.long, device=hidden.device)
        lp = checked_log_softmax(head_logits(lm.model, hidden[wi[:, 0], wi[:, 1]]))   # no head on padded queries
        branches = new_branches
    return forwards


def _classify(idx, branches, lp, temperature, top_p, min_mass, last, acc):
    """Add each branch's valid / invalid mass; return its live children (branch, token, text, mass).
    Only the token ids a branch can use are read (a few hundred of a 262k vocabulary): the rest of
    its mass is invalid by complement, in float64."""
    lp = transform(lp.cpu(), temperature, top_p).numpy()
    end_ids = idx.end_ids.numpy()
    kids = []
    for i, (r, _, text, m) in enumerate(branches):
        row = lp[i]
        got = 0.0
        ans = idx.matcher.at_end(text)
        if ans is not None and len(end_ids):
            p = float(np.exp(row[end_ids].astype(np.float64)).sum())
            acc.valid[r, idx.slot[ans]] += m * p
            got += p
        valid_ids, lives = idx.walk_ids(text)
        for slot, ids in valid_ids:
            p = float(np.exp(row[ids].astype(np.float64)).sum())
            acc.valid[r, slot] += m * p
            got += p
        for new_text, ids in lives:
            ps = np.exp(row[ids].astype(np.float64))
            got += float(ps.sum())
            nz = ps > 0
            for tid, p in zip(ids[nz], ps[nz]):
                if last or m * p < min_mass:
                    acc.unexplored[r] += m * p
                else:
                    kids.append((i, int(tid), new_text, m * p))
        acc.invalid[r] += max(m * (1.0 - got), 0.0)
    return kids


def _cap_per_root(kids, branches, max_branches, acc):
    """Keep at most `max_branches` heaviest children per root; the rest is unexplored mass."""
    count: dict[int, int] = {}
    for kid in kids:
        count[branches[kid[0]][0]] = count.get(branches[kid[0]][0], 0) + 1
    if not kids or max(count.values()) <= max_branches:
        return kids
    kept, per = [], {}
    for kid in sorted(kids, key=lambda c: -c[3]):
        r = branches[kid[0]][0]
        if per.get(r, 0) < max_branches:
            per[r] = per.get(r, 0) + 1
            kept.append(kid)
        else:
            acc.unexplored[r] += kid[3]
    return kept


def _cache_of(kv):
    """A DynamicCache holding these per-layer tensors as they are (no copy)."""
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer
    cache = DynamicCache()
    layers = []
    for kk, vv in kv:
        layer = DynamicLayer()
        if kk is not None:
            layer.lazy_initialization(kk, vv)
            layer.keys, layer.values = kk, vv
        layers.append(layer)
    cache.layers = layers
    return cache


def _masks(model, see, q_pos, slot_pos):
    """Additive 4-D masks [rows, 1, queries, slots] from `see` (bool), per layer type: sliding
    layers also drop slots `window` or more positions behind the query."""
    cfg = model.config.get_text_config(decoder=True) if hasattr(model.config, "get_text_config") else model.config
    dtype = next(model.parameters()).dtype
    dtype = dtype if dtype.is_floating_point else torch.float32

    def additive(b):
        return torch.zeros(b.shape, dtype=dtype, device=b.device).masked_fill_(~b, torch.finfo(dtype).min)[:, None]

    types = getattr(cfg, "layer_types", None)
    if not types:
        return additive(see)
    out = {}
    for t in set(types):
        if t == "sliding_attention" and getattr(cfg, "sliding_window", None):
            near = (q_pos.unsqueeze(-1) - slot_pos.unsqueeze(1)) < cfg.sliding_window
            out[t] = additive(see & near)
        else:
            out[t] = additive(see)
    return out


def first_token(lm, logprobs: torch.Tensor, space: AnswerSpace, *, temperature=1.0, top_p=1.0) -> list[AnswerDist]:
    """The study's adversary readout (approximate): for each answer, the next-token mass of tokens
    whose text (leading whitespace stripped) begins one of its surface forms. A token that begins
    forms of several answers ("1" for 1 and 10) counts for each; nothing is looked at past it."""
    idx = answer_index(lm, space)
    token_sets = []
    for answer, forms in space.forms:
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


def _as_space(answers) -> AnswerSpace:
    if isinstance(answers, AnswerSpace):
        return answers
    if isinstance(answers, str):
        return parse_answers(answers)
    if isinstance(answers, (list, tuple)):
        return AnswerSpace.of("custom", {a: [a] for a in answers})
    return AnswerSpace.of("custom", dict(answers))


def answer_distributions(lm, prompts, answers, *, method="exact", temperature=1.0, top_p=1.0,
                         min_mass=1e-6, infix="", max_steps=MAX_STEPS) -> list[AnswerDist]:
    """Answer distributions for many prompts (strings in the LM's format, or token-id lists)."""
    space = _as_space(answers)
    check_settings(temperature, top_p)
    if getattr(lm, "is_oracle", False):
        return [uniform_dist(space) for _ in prompts]
    if method not in ("exact", "first-token"):
        raise UserError(f"unknown method '{method}'; choose exact or first-token")
    rows = [p if isinstance(p, list) else lm.encode(p, infix) for p in prompts]
    out = []
    for s in range(0, len(rows), 16):
        roots = prefill(lm, rows[s:s + 16])
        if method == "first-token":
            out += first_token(lm, roots.logprobs, space, temperature=temperature, top_p=top_p)
        else:
            out += expand_exact(lm, roots, space, temperature=temperature, top_p=top_p,
                                min_mass=min_mass, max_steps=max_steps)
    return out


def answer_distribution(lm, prompt, answers, *, method="exact", temperature=1.0, top_p=1.0,
                        min_mass=1e-6, infix="", max_steps=MAX_STEPS) -> AnswerDist:
    """P(answer) for one prompt; `answers` is an AnswerSpace, a spec like "0-10", a list of
    answers or a mapping answer -> surface forms."""
    return answer_distributions(lm, [prompt], answers, method=method, temperature=temperature,
                                top_p=top_p, min_mass=min_mass, infix=infix, max_steps=max_steps)[0]
