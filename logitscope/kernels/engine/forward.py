"""Batched, left-padded forward passes returning float32 next-token log-probabilities."""
from __future__ import annotations

import contextlib

import torch

from ...errors import ModelError, UserError


def module_device(module) -> torch.device:
    """The device a module computes on: accelerate's hook execution device where the module is
    dispatched (its weights may sit on `meta` while offloaded to disk or CPU), else its weight's."""
    hook = getattr(module, "_hf_hook", None)
    for h in [hook, *getattr(hook, "hooks", ())]:
        dev = getattr(h, "execution_device", None)
        if dev is not None:
            return torch.device(f"cuda:{dev}" if isinstance(dev, int) else dev)
    w = next(iter(module.parameters()), None)
    return w.device if w is not None else torch.device("cpu")


def attention_backends(device):
    """On CUDA, scaled-dot-product attention without the cuDNN backend (flash, memory-efficient and
    math stay): cuDNN's host side costs ~1.6 ms a call while the key length changes every step (a
    1.7B decode step at batch 100 on an H100: 64 ms with it, 31 ms without). Elsewhere no change."""
    if torch.device(device).type != "cuda":
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel
    return sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH])


def run(module, **inputs):
    """`module(**inputs)` with the attention backends chosen for the inputs' device."""
    with attention_backends(inputs["input_ids"].device):
        return module(**inputs)


_CACHE_KWARG: dict = {}


def cache_kwargs(module, cache) -> dict:
    """The keyword that hands a KV cache to `module`'s forward: `cache` where the installed
    transformers has it (`past_key_values` is deprecated there and goes away in 5.40), else
    `past_key_values`. Decided once per module class from its forward's signature. The cache is
    updated in place, so callers keep their own reference instead of reading it from the output."""
    kind = type(module)
    if kind not in _CACHE_KWARG:
        import inspect
        params = inspect.signature(module.forward).parameters
        _CACHE_KWARG[kind] = "cache" if "cache" in params else "past_key_values"
    return {_CACHE_KWARG[kind]: cache, "use_cache": True}


def to_device(t: torch.Tensor, device) -> torch.Tensor:
    """A host tensor on `device` without waiting for the device: a copy from pageable memory to a
    GPU waits for the stream's queued work, one from pinned memory does not."""
    device = torch.device(device)
    if device.type != "cuda" or t.device.type != "cpu":
        return t.to(device)
    return t.pin_memory().to(device, non_blocking=True)


def take_positions(hidden: torch.Tensor, rows, cols) -> torch.Tensor:
    """hidden[rows[i], cols[i]] -> [n, hidden], the indices put on `hidden`'s own device: under a
    multi-GPU map the body's output sits on the final norm's device, not the embedding's."""
    dev = hidden.device
    return hidden[to_device(torch.as_tensor(rows), dev), to_device(torch.as_tensor(cols), dev)]


def context_limit(model) -> int | None:
    """The number of positions the model was built for (`max_position_embeddings`), if it says."""
    cfg = model.config.get_text_config(decoder=True) if hasattr(model.config, "get_text_config") else model.config
    limit = getattr(cfg, "max_position_embeddings", None)
    return int(limit) if limit else None


def check_length(lm, n_tokens: int, what: str = "the prompt") -> None:
    """One clear error before the work starts when `n_tokens` positions exceed the model's limit."""
    limit = context_limit(lm.model)
    if limit is not None and n_tokens > limit:
        raise UserError(f"{what} needs {n_tokens} positions, but {lm.name} takes at most {limit}")


def left_pad(rows: list[list[int]], pad_id: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """ids, mask: [batch, max_len], rows right-aligned (left padding)."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        if r:
            ids[i, width - len(r):] = torch.tensor(r, dtype=torch.long)
            mask[i, width - len(r):] = 1
    return ids.to(device), mask.to(device)


def positions_from_mask(mask: torch.Tensor, offset: torch.Tensor | int = 0) -> torch.Tensor:
    """position_ids: [batch, seq], counting only real tokens, continuing from `offset` per row."""
    pos = mask.long().cumsum(-1) - 1
    pos = pos + (offset.unsqueeze(-1) if isinstance(offset, torch.Tensor) else offset)
    return pos.clamp(min=0)


def _bad_logits(bad_rows: torch.Tensor) -> ModelError:
    rows = bad_rows.nonzero().flatten().tolist()
    return ModelError(f"the model produced NaN/inf logits (rows {rows[:5]}); try --dtype fp32 or no quantisation")


def check_finite(lse: torch.Tensor) -> None:
    """A row's log-normaliser is finite iff its logits have no NaN / +inf (and not all -inf)."""
    if not bool(torch.isfinite(lse).all()):
        raise _bad_logits(~torch.isfinite(lse))


def row_logsumexp(x: torch.Tensor, block: int = 8) -> torch.Tensor:
    """float32 log-normaliser of each row of x [n, vocab], a block of rows at a time (the
    temporaries stay cache-sized on a 262k vocabulary); checked finite."""
    x = x.float()
    lse = torch.cat([torch.logsumexp(x[i:i + block], dim=-1) for i in range(0, x.shape[0], block)]) \
        if x.shape[0] else x.new_zeros(0)
    check_finite(lse)
    return lse


def log_softmax_flagged(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(float32 log-softmax, a 0-d bool tensor: no NaN / +inf logit) without waiting for the device:
    callers check the flag where they read results on the host anyway (`raise_unless_finite`)."""
    lp = torch.log_softmax(logits.float(), dim=-1)
    return lp, ~torch.isnan(lp).any()      # a NaN or +inf logit (or a row of -inf) makes its row's log-softmax NaN


def raise_unless_finite(ok) -> None:
    """The NaN/inf error for flags from `log_softmax_flagged` (a bool, a tensor, or a list of them)."""
    if isinstance(ok, (list, tuple)):
        ok = torch.stack([torch.as_tensor(x) for x in ok]).all() if ok else True
    if not bool(ok):
        raise ModelError("the model produced NaN/inf logits; try --dtype fp32 or no quantisation")


def checked_log_softmax(logits: torch.Tensor) -> torch.Tensor:
    """float32 log-softmax over the vocabulary; NaN/inf logits end with one clear error."""
    logits = logits.float()
    bad = torch.isnan(logits) | torch.isposinf(logits)
    if bad.any():
        raise _bad_logits(bad.any(-1))
    return torch.log_softmax(logits, dim=-1)


@torch.inference_mode()
def next_logprobs(lm, rows: list[list[int]], batch_size: int = 16) -> torch.Tensor:
    """Next-token log-probs for each row of token ids: [len(rows), vocab] float32 on the CPU.

    Rows are left-padded in batches of `batch_size`; `position_ids` come from the attention mask
    so each row sees the positions it would see alone; only the last position's logits are kept.
    """
    if not rows or any(len(r) == 0 for r in rows):
        raise UserError("empty prompt: nothing to condition on")
    out = []
    for start in range(0, len(rows), batch_size):
        chunk = rows[start:start + batch_size]
        ids, mask = left_pad(chunk, lm.pad_id, lm.input_device)
        logits = run(lm.model, input_ids=ids, attention_mask=mask, position_ids=positions_from_mask(mask),
                          use_cache=False, logits_to_keep=1).logits[:, -1]
        out.append(checked_log_softmax(logits).cpu())
    return torch.cat(out)


def body_and_head(model):
    """(the decoder without its LM head, the LM head): run the body on all positions and the head
    only on the positions whose logits are needed (ragged rows, padded queries)."""
    return getattr(model, model.base_model_prefix), model.get_output_embeddings()


SMALL_BATCH = 16     # head_logits: rows computed as weight @ hidden.T on the CPU
HEAD_CHUNK = 2048    # head_logits_lse: vocabulary rows per block


def _plain_cpu_head(model, hidden: torch.Tensor):
    """The head's weight where it is a plain bias-free Linear on the CPU whose forward adds nothing
    (no hooks: accelerate offload, user biases), with the dtype of `hidden`; else None."""
    head = body_and_head(model)[1]
    w = getattr(head, "weight", None)
    plain = not (head._forward_hooks or head._forward_pre_hooks or hasattr(head, "_hf_hook"))
    if (plain and hidden.dim() == 2 and type(head) is torch.nn.Linear and head.bias is None
            and w.device.type == "cpu" and w.dtype == hidden.dtype):
        return w
    return None


def _softcap(model):
    cfg = getattr(model.config, "get_text_config", lambda **_: model.config)(decoder=True)
    return getattr(cfg, "final_logit_softcapping", None)


DEVICE_CHUNK = 32768  # head_logits_lse on the module path (accelerators): vocabulary columns per block


@torch.no_grad()
def head_logits_lse(model, hidden: torch.Tensor, temperature: float = 1.0, sets: torch.Tensor | None = None):
    """(logits, lse, set_mass) for selected hidden states [n, hidden]:

    - logits: the LM head's float32 logits, vocab-major [vocab, n], soft-capped like the model's,
      on the head's device (on an accelerator they stay there: callers gather the few ids they read);
    - lse: float64 log-normaliser of each row of logits / temperature [n], on the CPU;
    - set_mass: float64 [k, n] on the CPU, the probability (after temperature) of each token set
      given as 0/1 rows of `sets` [k, vocab]: sums over tens of thousands of ids without gathering.

    Both paths reduce the vocabulary a block at a time (each block's max, its sum of exponentials
    and its set sums, float32 logits, float64 sums), so no float64 [n, vocab] tensor is made. On the
    CPU with a plain float32 head the logits themselves are computed block by block
    (weight_block @ hidden.T, `HEAD_CHUNK` rows) while the block is in cache; otherwise (accelerators,
    hooked or quantised heads) the module computes them and they are reduced where they are.
    NaN / +inf logits end with one clear error."""
    n = hidden.shape[0]
    w = _plain_cpu_head(model, hidden) if hidden.dtype == torch.float32 else None
    cap, inv_t = _softcap(model), 1.0 / temperature
    if w is None:
        logits = head_logits(model, hidden).float().t()               # [vocab, n] view, on the head's device
        vocab, chunk = logits.shape[0], DEVICE_CHUNK

        def block(i):
            return logits[i:i + chunk]
        out = logits
    else:
        vocab, chunk = w.shape[0], HEAD_CHUNK
        out, ht = torch.empty(vocab, n), hidden.t()

        def block(i):
            blk = out[i:i + chunk]
            torch.mm(w[i:i + chunk], ht, out=blk)
            if cap:
                blk.div_(cap).tanh_().mul_(cap)
            return blk
    dev = out.device
    ones = torch.ones(1, vocab, dtype=torch.float64, device=dev)
    sums_of = ones if sets is None or not len(sets) else torch.cat([ones, sets.to(dev, torch.float64)])
    starts = range(0, vocab, chunk)
    mx = torch.empty(len(starts), n, device=dev)
    sums = torch.empty(len(starts), sums_of.shape[0], n, dtype=torch.float64, device=dev)
    tmp = torch.empty(min(chunk, vocab), n, device=dev)
    for j, i in enumerate(starts):
        blk = block(i)
        torch.amax(blk, 0, out=mx[j])
        t = tmp[:blk.shape[0]]
        torch.sub(blk, mx[j], out=t)
        if inv_t != 1.0:
            t.mul_(inv_t)
        torch.mm(sums_of[:, i:i + chunk], t.exp_().double(), out=sums[j])
    mx = mx.double() * inv_t
    bad = (torch.isnan(mx) | torch.isposinf(mx)).any(0)
    top = mx.amax(0)
    scale = torch.where(mx > -torch.inf, torch.exp(mx - top), 0.0)           # a block of only -inf adds 0
    total = torch.einsum("jkn,jn->kn", sums.nan_to_num(0.0), scale)
    lse = top + torch.log(total[0])                                            # all -inf: -inf
    host = torch.cat([lse[None], total[1:] / total[0], bad.double()[None]]).cpu()   # one copy back
    if bool(host[-1].any()):
        raise _bad_logits(host[-1].bool())
    check_finite(host[0])
    return out, host[0], host[1:-1]


def set_sums(sets: torch.Tensor, logprobs: torch.Tensor, chunk: int | None = None) -> torch.Tensor:
    """float64 [k, n]: the probability of each 0/1 token set `sets` [k, vocab] under log-probs
    [n, vocab], a block of the vocabulary at a time (no float64 [n, vocab] copy), on the CPU."""
    chunk = chunk or DEVICE_CHUNK
    sets = sets.to(logprobs.device, torch.float64)
    total = torch.zeros(sets.shape[0], logprobs.shape[0], dtype=torch.float64, device=logprobs.device)
    for i in range(0, logprobs.shape[1], chunk):
        total += sets[:, i:i + chunk] @ logprobs[:, i:i + chunk].exp().double().t()
    return total.cpu()


def head_logits(model, hidden: torch.Tensor) -> torch.Tensor:
    """LM-head logits of selected hidden states (with the model's final logit soft-capping).

    On CPU a handful of rows are computed as weight @ hidden.T: the vocab-major product streams
    the weight once, where oneDNN's row-by-row path for tiny batches is several times slower on a
    262k vocabulary (same values up to float32 summation order)."""
    w = _plain_cpu_head(model, hidden)
    if w is not None and hidden.shape[0] <= SMALL_BATCH:
        logits = torch.mm(w, hidden.t()).t().contiguous()
    else:
        logits = body_and_head(model)[1](hidden)
    cap = _softcap(model)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    return logits
