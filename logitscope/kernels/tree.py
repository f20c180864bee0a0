"""The token-tree engine behind exact answers (tree attention over a root's cache row).

`expand_group` expands a group of roots step by step. At each step every live branch of a root
is one query of that root's cache row; an explicit 4-D mask (one per layer type, so sliding
windows stay exact) lets a branch see the root's tokens, its own ancestors and itself, so no
cache is ever copied per branch, and each step's keys/values are written into the roots' spare
room (`cache.GrowingLayer`) instead of concatenated onto a copy of the whole cache. `_classify` adds each branch's valid / invalid mass from the
token ids its text can use (an `answers.AnswerIndex`) and returns its live children.
"""
from __future__ import annotations

import numpy as np
import torch

from .forward import body_and_head, checked_log_softmax, head_logits, row_logsumexp
from .sampling import transform

MAX_ROWS = 256


class Accounts:
    """Per root: valid mass per answer, invalid mass, unexplored (pruned) mass."""

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


def expand_group(lm, idx, roots, rows, acc, temperature, top_p, min_mass, max_steps, max_branches) -> int:
    """Expand the roots `rows`; returns the number of forward passes."""
    dev = lm.input_device
    sel = torch.tensor(rows, dtype=torch.long)
    whole = len(rows) == roots.logprobs.shape[0]
    kv = roots.layers() if whole else _take_rows(roots.layers(), sel)
    root_mask = roots.mask[sel.to(roots.mask.device)].bool().to(dev)          # [R, L]
    next_pos = roots.next_pos[sel.to(roots.next_pos.device)].to(dev)           # [R]
    slot_pos = (root_mask.long().cumsum(-1) - 1).clamp(min=0)                  # [R, L] positions of cache slots
    row_of = {r: i for i, r in enumerate(rows)}                                # root -> row of the cache tensors
    # live branches: root, kv columns of its own tokens (ancestors first), text, mass
    branches = [(r, [], b"", 1.0) for r in rows]
    lp, normalised = roots.logprobs[sel.to(roots.logprobs.device)], True
    forwards = 0
    for depth in range(max_steps + 1):
        kids = _classify(idx, branches, _normalise(lp, normalised, temperature, top_p), min_mass,
                         depth == max_steps, acc)
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
            kv = _take_rows(kv, keep)
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
        kv = [(layer.keys, layer.values, layer) for layer in out.past_key_values.layers]
        hidden = out.last_hidden_state
        wi = torch.tensor(where, dtype=torch.long, device=hidden.device)
        lp, normalised = head_logits(lm.model, hidden[wi[:, 0], wi[:, 1]]), False   # no head on padded queries
        branches = new_branches
    return forwards


def _normalise(x, normalised: bool, temperature: float, top_p: float):
    """(scores [n, vocab] float32, lse [n] float64) with log p = scores - lse after temperature and
    top-p. Without top-p only each row's log-normaliser is computed (no full log-softmax of a
    262k vocabulary): the few ids a branch reads are normalised one by one."""
    x = x.cpu().float()
    if top_p < 1.0:
        lp = transform(x if normalised else checked_log_softmax(x), temperature, top_p)
        return lp.numpy(), np.zeros(len(lp))
    if temperature != 1.0:
        x = x / temperature
    elif normalised:
        return x.numpy(), np.zeros(len(x))
    return x.numpy(), row_logsumexp(x).double().numpy()


def _classify(idx, branches, dist, min_mass, last, acc):
    """Add each branch's valid / invalid mass; return its live children (branch, token, text, mass).
    Only the token ids a branch can use are read (a few hundred of a 262k vocabulary): the rest of
    its mass is invalid by complement, in float64."""
    scores, lse = dist
    end_ids = idx.end_ids.numpy()
    kids = []
    for i, (r, _, text, m) in enumerate(branches):
        row, off = scores[i], lse[i]
        got = 0.0
        ans = idx.matcher.at_end(text)
        if ans is not None and len(end_ids):
            p = float(np.exp(row[end_ids].astype(np.float64) - off).sum())
            acc.valid[r, idx.slot[ans]] += m * p
            got += p
        valid_ids, lives = idx.walk_ids(text)
        for slot, ids in valid_ids:
            p = float(np.exp(row[ids].astype(np.float64) - off).sum())
            acc.valid[r, slot] += m * p
            got += p
        for new_text, ids in lives:
            ps = np.exp(row[ids].astype(np.float64) - off)
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
