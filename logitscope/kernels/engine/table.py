"""A generation step's table, computed where the model is: statistics of every slot's next-token
distribution, each row's draw and the picked token's log-probs, as one float64 tensor copied back
once. Plain tensor code with no host reads and no data-dependent Python, so the eager loop and the
compiled step (`static.DecodeStep`) run the same function.

Columns (`step_table`, float32): 0 picked id, 1 its log-prob under the model (T = 1), 2 under the sampling
distribution, 3 the entropy in bits of the sampling distribution over the full vocabulary, 4 the
entropy of its top 5 renormalised (Mohammadi 2024's measure), 5..9 the top-5 probabilities, 10..14
the top-5 ids. A NaN/inf logit makes its row's entropy NaN (the host checks it with the table).
"""
from __future__ import annotations

import math

import torch

TOP = 5
LN2 = math.log(2.0)
BLOCK = 4096
COLUMNS = 5 + 2 * TOP


def slot_stats(lp: torch.Tensor, p: torch.Tensor | None = None, k: int = TOP):
    """For log-probs [n, vocab] (and their probabilities `p`): (entropy bits [n] float64, top-k
    entropy bits [n] float64, top-k log-probs [n, k] float32, top-k ids [n, k]). A token at
    probability 0 (cut by top-p) adds nothing (entr(0) = 0); a NaN row stays NaN."""
    p = lp.exp() if p is None else p
    ent = torch.special.entr(p).sum(-1).double() / LN2
    vals, ids = torch.topk(lp, min(k, lp.shape[-1]), dim=-1)
    top_ent = torch.special.entr(torch.softmax(vals.double(), -1)).sum(-1) / LN2
    return ent, top_ent, vals, ids


def step_table(model_lp: torch.Tensor, lp: torch.Tensor, s: torch.Tensor, u: torch.Tensor | None) -> torch.Tensor:
    """float32 [rows, COLUMNS] on the model's device, one row per session row (`s`: its slot) from
    the slots' log-probs under the model (`model_lp`) and under the sampling distribution (`lp`,
    the same tensor at T = 1 and top-p 1), [slots, vocab] each, and each row's uniform number `u`
    (None: greedy). Ids are exact in float32 (below 2^24)."""
    p = lp.exp()                                        # read by the statistics and the draw
    ent = torch.special.entr(p).sum(-1, keepdim=True) / LN2
    top_lp, top_ids = torch.topk(lp, min(TOP, lp.shape[-1]), dim=-1)
    top_p = torch.softmax(top_lp, -1)
    top_ent = torch.special.entr(top_p).sum(-1, keepdim=True) / LN2
    per_slot = torch.cat([ent, top_ent, top_lp.exp(), top_ids.float()], 1)
    picks = _draw(lp, p, s, u)
    picked_lp = lp[s, picks]
    model_picked = picked_lp if model_lp is lp else model_lp[s, picks]
    return torch.cat([torch.stack([picks.float(), model_picked, picked_lp], 1), per_slot[s]], 1)


def _draw(lp: torch.Tensor, p: torch.Tensor, s: torch.Tensor, u: torch.Tensor | None) -> torch.Tensor:
    """One token id per session row (`s`: its slot), on the device: the argmax (`u` None), or
    inverse-CDF with the row's own uniform number u: the block of `BLOCK` tokens where u x total
    falls (cumulative float32 block sums, accumulated in float64), then the token within it
    (float64 cumulative sum of that block only): no float64 copy of the whole vocabulary. A
    vocabulary that is not a multiple of `BLOCK` is padded with zero-probability tokens, and a
    target past a block's last token (rounding) takes the block's last token of positive
    probability, so a token of probability 0 is never drawn."""
    if u is None:
        return lp.argmax(-1)[s]
    vocab = p.shape[1]
    pad = -vocab % BLOCK
    blocks = (torch.nn.functional.pad(p, (0, pad)) if pad else p).view(p.shape[0], -1, BLOCK)
    bsum = blocks.sum(-1).double()[s]                                   # [rows, blocks]
    bcdf = bsum.cumsum(-1)
    target = (u * bcdf[:, -1])[:, None]
    k = torch.searchsorted(bcdf, target, right=True).clamp(max=bcdf.shape[1] - 1)   # [rows, 1]
    inside = blocks[s, k[:, 0]]                                         # [rows, BLOCK]
    c = inside.double().cumsum(-1) + (bcdf.gather(1, k) - bsum.gather(1, k))
    t = torch.searchsorted(c, target, right=True)[:, 0]
    last = (inside > 0).int().cumsum(-1).argmax(-1)                     # the block's last live token
    return (k[:, 0] * BLOCK + torch.minimum(t, last)).clamp(max=vocab - 1)
