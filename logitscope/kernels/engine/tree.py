"""The token-tree engine behind exact answers (tree attention over a root's cache row).

`expand_group` expands a group of roots step by step. At each step every live branch of a root
is one query of that root's cache row; an explicit 4-D mask (one per layer type, so sliding
windows stay exact) lets a branch see the root's tokens, its own ancestors and itself, so no
cache is ever copied per branch, and each step's keys/values are written into the roots' spare
room (`cache.GrowingLayer`) instead of concatenated onto a copy of the whole cache. `_classify` adds each branch's valid / invalid mass from the
token ids its text can use (an `answers.AnswerIndex`) and returns its live children.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .forward import body_and_head, cache_kwargs, checked_log_softmax, head_logits, head_logits_lse, run, set_sums, \
    take_positions, to_device
from .sampling import transform

MAX_ROWS = 256
HOST_DEVICES = ("cpu",)   # scores on these are gathered through numpy; elsewhere on their device


class Accounts:
    """Per root: valid mass per answer, invalid mass, unexplored (pruned) mass; with `trace`, every
    valid path: (answer slot, token ids, the set its last token came from or None, probability)."""

    def __init__(self, n, k, trace: bool = False):
        self.valid, self.invalid, self.unexplored = np.zeros((n, k)), np.zeros(n), np.zeros(n)
        self.capped, self.used = np.zeros(n), np.zeros(n, dtype=np.int64)   # mass the work cap left; branches
        self.paths = [[] for _ in range(n)] if trace else None
        self.step_cap = None                                               # branches a root may forward a step


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


MAX_TREE = 4096                 # branches forwarded per root over one expansion: the tree's work cap
STEP_LOGITS_BYTES = 1 << 30     # a step's head logits [vocab, queries] (float32) stay under this
STEP_CELLS = 1 << 26            # a step's attention mask (rows x queries x slots) is split past this


@dataclass(frozen=True)
class Limits:
    """What bounds an expansion: `min_mass` prunes light branches; `max_steps` tokens; at most
    `max_branches` per root and step, `max_tree` per root in all (the heaviest kept; the rest is
    unexplored and counted as capped)."""
    temperature: float
    top_p: float
    min_mass: float
    max_steps: int
    max_branches: int
    max_tree: int = MAX_TREE


class _Rows:
    """The cache rows a step forwards: per-layer (keys, values, layer), the roots' masks [R, L] (on the
    device and the host), next positions [R], slot positions [R, L + tree], and root -> row."""

    def __init__(self, kv, root_mask, root_mask_h, next_pos, slot_pos, row_of):
        self.kv, self.root_mask, self.root_mask_h = kv, root_mask, root_mask_h
        self.next_pos, self.slot_pos, self.row_of = next_pos, slot_pos, row_of

    def take(self, live: list, dev) -> "_Rows":
        """Only the rows of the roots `live` (in this order; a copy of their cache rows)."""
        keep_h = torch.tensor([self.row_of[r] for r in live], dtype=torch.long)
        keep = to_device(keep_h, dev)
        return _Rows(_take_rows(self.kv, keep), self.root_mask[keep], self.root_mask_h[keep_h], self.next_pos[keep],
                     self.slot_pos[keep], {r: i for i, r in enumerate(live)})


def expand_group(lm, idx, roots, rows, acc, limits: Limits) -> int:
    """Expand the roots `rows`; returns the number of forward passes."""
    dev = lm.input_device
    sel = torch.tensor(rows, dtype=torch.long)
    whole = len(rows) == roots.logprobs.shape[0]
    kv = roots.layers() if whole else _take_rows(roots.layers(), sel)
    root_mask = roots.mask[sel.to(roots.mask.device)].bool().to(dev)          # [R, L]
    next_pos = roots.next_pos[sel.to(roots.next_pos.device)].to(dev)           # [R]
    slot_pos = (root_mask.long().cumsum(-1) - 1).clamp(min=0)                  # [R, L] positions of cache slots
    st = _Rows(kv, root_mask, root_mask.cpu(), next_pos, slot_pos, {r: i for i, r in enumerate(rows)})
    # live branches: root, kv columns of its own tokens (ancestors first), text, mass, token ids
    branches = [(r, [], b"", 1.0, ()) for r in rows]
    _prepare(idx, [b""])
    dist = _roots_dist(idx, roots.logprobs[sel.to(roots.logprobs.device)], limits.temperature, limits.top_p)
    kids = _classify(idx, branches, dist, limits.min_mass, limits.max_steps == 0, acc)
    acc.step_cap = _step_cap(lm, limits)
    kids = _cap(kids, branches, acc, limits)
    return _expand(lm, idx, st, branches, kids, 0, acc, limits)


def _step_cap(lm, limits: Limits) -> int:
    """Branches per root and step: `max_branches`, and no more than a step's logits budget holds."""
    vocab = lm.model.get_output_embeddings().weight.shape[0]
    return max(1, min(limits.max_branches, STEP_LOGITS_BYTES // (4 * vocab)))


def _expand(lm, idx, st: _Rows, branches, kids, depth, acc, limits: Limits) -> int:
    """Forward `kids` (the next step's branches, capped) and go on until no branch is live; returns
    the forward passes. A step too big for one forward (logits or mask past their budgets) is split
    into two halves of its roots, each going on alone (a root's tree only ever reads its own row)."""
    dev, forwards = lm.input_device, 0
    vocab = lm.model.get_output_embeddings().weight.shape[0]
    while kids:
        # group the kids by root: one cache row each, the kids are that row's queries
        by_root: dict[int, list] = {}
        for kid in kids:
            by_root.setdefault(branches[kid[0]][0], []).append(kid)
        live = sorted(by_root, key=lambda r: st.row_of[r])
        n_rows, n_q, n_cols = len(live), max(len(v) for v in by_root.values()), st.slot_pos.shape[1]
        too_big = n_rows * n_q * 4 * vocab > STEP_LOGITS_BYTES or n_rows * n_q * (n_cols + n_q) > STEP_CELLS
        if n_rows > 1 and too_big:
            half = n_rows // 2
            for part in (live[:half], live[half:]):
                forwards += _expand(lm, idx, st.take(part, dev), branches, [k for r in part for k in by_root[r]],
                                    depth, acc, limits)
            return forwards
        if n_rows < st.root_mask.shape[0]:
            st = st.take(live, dev)
        ids = torch.full((n_rows, n_q), lm.pad_id, dtype=torch.long)
        see = torch.zeros((n_rows, n_q, n_cols + n_q), dtype=torch.bool)
        see[:, :, :st.root_mask_h.shape[1]] = st.root_mask_h.unsqueeze(1)
        see[:, torch.arange(n_q), n_cols + torch.arange(n_q)] = True            # every query sees itself
        new_branches, where = [], []
        for i, r in enumerate(live):
            for q, (b, tok, text, m) in enumerate(by_root[r]):
                ids[i, q] = tok
                path = branches[b][1]
                if path:
                    see[i, q, path] = True
                new_branches.append((r, path + [n_cols + q], text, m, branches[b][4] + (tok,)))
                where.append((i, q))
        pos = (st.next_pos + depth).unsqueeze(-1).expand(n_rows, n_q)
        slot_pos = torch.cat([st.slot_pos, pos], -1)
        see = to_device(see, dev)
        body = body_and_head(lm.model)[0]
        cache = _cache_of(st.kv)
        out = run(body, input_ids=to_device(ids, dev), attention_mask=_masks(lm.model, see, pos, slot_pos),
                   position_ids=pos, **cache_kwargs(body, cache))
        forwards += 1
        st = _Rows([(layer.keys, layer.values, layer) for layer in cache.layers], st.root_mask, st.root_mask_h,
                   st.next_pos, slot_pos, st.row_of)
        hidden = out.last_hidden_state
        wi = torch.tensor(where, dtype=torch.long)
        _prepare(idx, [b[2] for b in new_branches])
        dist = _branch_dist(lm.model, idx, take_positions(hidden, wi[:, 0], wi[:, 1]), limits.temperature,
                            limits.top_p)                                      # no head on padded queries
        branches, depth = new_branches, depth + 1
        kids = _classify(idx, branches, dist, limits.min_mass, depth == limits.max_steps, acc)
        kids = _cap(kids, branches, acc, limits)
    return forwards


class _Dist:
    """Next-token log-probs of a step's branches, kept as vocab-major scores [vocab, n] (a torch
    tensor where the head computed it: on an accelerator only the ids a branch reads are copied
    back) with a scale and a per-branch log-normaliser on the host:
    log p[t | branch i] = scores[t, i] * scale - lse[i]; `set_mass` [sets, n]: the probability of
    each of the answer index's big token sets."""

    def __init__(self, scores: torch.Tensor, lse: np.ndarray, scale: float = 1.0, set_mass=None):
        self.scores, self.lse, self.scale = scores, lse, scale
        self.set_mass = np.zeros((0, len(lse))) if set_mass is None else set_mass

    def probs(self, rows: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """float64 probabilities [len(rows), len(ids)]."""
        return self.probs_many([(rows, ids)])[0]

    def probs_many(self, blocks: list) -> list:
        """`probs` of several (rows, ids) blocks; on an accelerator all of them are gathered there in
        one indexing and copied back at once (one wait for the device per step, not one per block)."""
        s = self.scores
        if s.device.type in HOST_DEVICES:                                  # a view: numpy gathers fastest
            xs = [s.numpy()[ids][:, rows].T.astype(np.float64) for rows, ids in blocks]
        else:
            flat_ids = np.concatenate([np.repeat(ids[None], len(rows), 0).ravel() for rows, ids in blocks])
            flat_rows = np.concatenate([np.repeat(np.asarray(rows), len(ids)) for rows, ids in blocks])
            got = s[to_device(torch.from_numpy(flat_ids), s.device), to_device(torch.from_numpy(flat_rows), s.device)]
            got = got.double().cpu().numpy()
            xs, at = [], 0
            for rows, ids in blocks:
                xs.append(got[at:at + len(rows) * len(ids)].reshape(len(rows), len(ids)))
                at += len(rows) * len(ids)
        out = []
        for (rows, _), x in zip(blocks, xs):
            if self.scale != 1.0:
                x = x * self.scale
            out.append(np.exp(x - self.lse[rows, None]))
        return out


def _roots_dist(idx, x: torch.Tensor, temperature: float, top_p: float) -> _Dist:
    """Distributions from next-token log-probs [n, vocab] after temperature and top-p (the roots,
    a handful of rows; or top-p steps, which need the full transform anyway), where they are."""
    x = x.float()
    if top_p < 1.0 or temperature != 1.0:
        x = transform(x, temperature, top_p)
    sets = idx.set_masks(x.device)
    mass = set_sums(sets, x).numpy() if sets is not None else None
    return _Dist(x.t(), np.zeros(x.shape[0]), 1.0, mass)


def _branch_dist(model, idx, hidden: torch.Tensor, temperature: float, top_p: float) -> _Dist:
    """The branches' distributions from their hidden states. Without top-p only the head's logits,
    each row's log-normaliser and its big-set sums are computed (no log-softmax over the
    vocabulary); the few ids a branch reads one by one are normalised when read."""
    if top_p < 1.0:
        return _roots_dist(idx, checked_log_softmax(head_logits(model, hidden)), temperature, top_p)
    scores, lse, mass = head_logits_lse(model, hidden, temperature, idx.set_masks(hidden.device))
    return _Dist(scores, lse.numpy(), 1.0 / temperature, mass.numpy())


def _classify(idx, branches, dist: _Dist, min_mass, last, acc):
    """Add each branch's valid / invalid mass; return its live children (a `_Kids`: branch, token,
    mass, text as arrays, so a step with millions of live children costs no Python objects).
    Only the token ids a branch can use are read (a few hundred of a 262k vocabulary, plus one sum
    per big valid set), for all the branches with the same text at once: the rest of its mass is
    invalid by complement, in float64."""
    by_text: dict[bytes, list[int]] = {}
    for i, b in enumerate(branches):
        by_text.setdefault(b[2], []).append(i)
    groups = [(np.asarray(rows), idx.layout(text)) for text, rows in by_text.items()]
    probs = dist.probs_many([(rows, lay[0]) for rows, lay in groups])       # [branches, ids] per text
    kids = []                                                              # per text: arrays, not tuples
    for (rows, (ids, valid, live_from, live_text, big)), p in zip(groups, probs):
        roots = np.array([branches[i][0] for i in rows])
        m = np.array([branches[i][3] for i in rows])
        got = p.sum(1)
        for slot, lo, hi in valid:
            np.add.at(acc.valid[:, slot], roots, m * p[:, lo:hi].sum(1))
        for slot, k in big:
            q = dist.set_mass[k, rows]                                     # laid out before the head (_prepare)
            np.add.at(acc.valid[:, slot], roots, m * q)
            got = got + q
        if acc.paths is not None:
            _trace(acc, idx, [branches[i] for i in rows], m, p, ids, valid, big, dist.set_mass[:, rows])
        np.add.at(acc.invalid, roots, np.maximum(m * (1.0 - got), 0.0))
        mass = m[:, None] * p[:, live_from:]
        go = np.zeros(mass.shape, dtype=bool) if last else mass >= min_mass
        go &= mass > 0
        np.add.at(acc.unexplored, roots, np.where(go, 0.0, mass).sum(1))
        bi, j = np.nonzero(go)
        kids.append((rows[bi], ids[live_from + j], mass[bi, j], live_text, j))
    return _Kids(kids)


def _trace(acc, idx, branches, m, p, ids, valid, big, set_mass) -> None:
    """Record each valid completion of these branches (same text) as a path with its probability."""
    for j, b in enumerate(branches):
        out = acc.paths[b[0]]
        for slot, lo, hi in valid:
            for c in range(lo, hi):
                if p[j, c] > 0:
                    out.append((slot, b[4] + (int(ids[c]),), None, float(m[j] * p[j, c])))
        for slot, k in big:
            out.append((slot, b[4], (k, len(idx.set_ids[k])), float(m[j] * set_mass[k, j])))


def _prepare(idx, texts) -> None:
    """Lay out the texts a step will classify before its head runs, so their big sets are summed in it."""
    for t in set(texts):
        idx.layout(t)


class _Kids:
    """A step's live children as arrays: branch index, token id, mass, and where each one's text is."""

    def __init__(self, parts):
        cat = (lambda k: np.concatenate([p[k] for p in parts])) if parts else (lambda k: np.zeros(0))
        self.branch, self.token, self.mass = cat(0).astype(np.int64), cat(1).astype(np.int64), cat(2)
        self.texts = [p[3] for p in parts]
        self.part = np.concatenate([np.full(len(p[4]), n) for n, p in enumerate(parts)]) if parts else np.zeros(0, int)
        self.at = cat(4).astype(np.int64)


def _cap(kids: _Kids, branches, acc, limits) -> list:
    """The children to forward, as (branch, token, text, mass) in branch order then id order: at most
    `acc.step_cap` per root at this step and `limits.max_tree` per root in all, the heaviest kept. The
    mass of the rest is unexplored, and counted in `acc.capped` (the work cap, not min_mass, left it)."""
    if not len(kids.branch):
        return []
    root = np.array([b[0] for b in branches])[kids.branch]
    order = np.lexsort((-kids.mass, root))                                  # by root, heaviest first
    r_sorted = root[order]
    first = np.searchsorted(r_sorted, r_sorted, side="left")
    rank = np.arange(len(order)) - first                                    # rank of each child within its root
    allowed = np.minimum(acc.step_cap, np.maximum(limits.max_tree - acc.used[r_sorted], 0))
    keep_sorted = rank < allowed
    dropped = order[~keep_sorted]
    if len(dropped):
        np.add.at(acc.unexplored, root[dropped], kids.mass[dropped])
        np.add.at(acc.capped, root[dropped], kids.mass[dropped])
    kept = np.sort(order[keep_sorted], kind="stable")                     # original order: branch, then id
    kept = kept[np.argsort(kids.branch[kept], kind="stable")]
    np.add.at(acc.used, root[kept], 1)
    return [(int(kids.branch[i]), int(kids.token[i]), kids.texts[kids.part[i]][kids.at[i]], float(kids.mass[i]))
            for i in kept]


def _take_rows(kv, rows: torch.Tensor):
    """Per-layer (keys, values, None) restricted to these batch rows (uninitialised layers stay None)."""
    return [(kk, vv, None) if kk is None else
            (kk.index_select(0, rows.to(kk.device)), vv.index_select(0, rows.to(vv.device)), None)
            for kk, vv, _ in kv]


def _cache_of(kv):
    """A cache over these per-layer tensors as they are (no copy). Where they are a layer's current
    views, the step's queries are written into that layer's spare room, past what its owner sees
    (a session keeps its length; the tree's slots are never part of it)."""
    from .cache import growing_cache, growing_layer
    cache = growing_cache()
    cache.layers = [growing_layer().borrow(kk, vv, owner) for kk, vv, owner in kv]
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
