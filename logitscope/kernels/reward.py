"""Reward-model scoring (sequence-classification checkpoints such as Tulu-3-8B-RM).

Each (prompt, response) or message list is rendered with the reward model's template, scored in
padded batches, and the score is read from the classification head at each row's **last real
token** (found from the attention mask, never from the pad id: Llama tokenizers often pad with
EOS, and the Tulu template ends with the EOS that must be read). Rows are sorted by length
so batches waste little padding; scores come back in input order.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import torch

from ..errors import UserError

TULU_TEMPLATE = "<|user|>\n{prompt}\n<|assistant|>\n{response}"


@dataclass
class RewardModel:
    model: Any
    tokenizer: Any
    spec: str
    template: str                  # "tulu" | "chat"
    info: dict = field(default_factory=dict)

    @property
    def input_device(self):
        from .engine.forward import module_device
        return module_device(self.model.get_input_embeddings())


def load_reward_model(spec: str, *, dtype=None, device=None, device_map=None, quantize=None,
                      template: str = "auto", max_memory=None, compile=None) -> RewardModel:
    """A sequence-classification reward model from a registry name, local dir or cached hub id
    (`compile`, the decode step's setting that commands pass along, does not apply: no decoding)."""
    from .models import loading
    from .models.quant import parse_device_map, parse_max_memory
    quantize = None if quantize in (None, "none") else quantize
    device_map = parse_device_map(device_map)
    max_memory = parse_max_memory(max_memory) if isinstance(max_memory, str) else max_memory
    kind, _, target = loading.resolve(spec)
    if kind in ("uniform", "embedded", "gguf"):
        raise UserError(f"'{spec}' is not a reward model; use tulu3-8b-rm or a sequence-classification checkpoint dir")
    loading.check_device(device)
    if kind == "dir":
        loading.check_model_dir(target)
    path = loading._hub_snapshot(target) if kind == "hub" else target
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging
    hf_logging.disable_progress_bar()
    device = device or (None if device_map else loading.default_device())
    tdtype = loading.torch_dtype(dtype, device or loading.default_device())
    t0 = time.perf_counter()
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = loading.from_pretrained(AutoModelForSequenceClassification, path, tdtype, device, device_map,
                                        max_memory, quantize)
    except (OSError, ValueError) as exc:
        raise UserError(f"could not load reward model '{spec}' from {path}: {str(exc).splitlines()[0]}") from None
    model.eval()
    model.requires_grad_(False)
    if getattr(model.config, "num_labels", 1) != 1:
        raise UserError(f"'{spec}' has {model.config.num_labels} labels; a reward model has one score")
    if template == "auto":
        template = "chat" if getattr(tokenizer, "chat_template", None) else "tulu"
    info = {"spec": spec, "path": path, "dtype": str(tdtype).replace("torch.", ""), "quantize": quantize or "none",
            "template": template, "load_seconds": round(time.perf_counter() - t0, 2)}
    return RewardModel(model, tokenizer, spec, template, info)


def render(rm: RewardModel, prompt: str | None = None, response: str | None = None, messages=None) -> str:
    """The text the reward model scores: its template, ending with EOS."""
    tok = rm.tokenizer
    if messages is None:
        messages = [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}]
    if rm.template == "chat":
        text = tok.apply_chat_template(messages, tokenize=False)
    else:
        parts = []
        for m in messages:
            if m["role"] == "assistant":
                parts.append(f"<|assistant|>\n{m['content']}{tok.eos_token or ''}\n")
            else:
                parts.append(f"<|{m['role']}|>\n{m['content']}\n")
        text = "".join(parts).rstrip("\n")
    eos = tok.eos_token or ""
    if eos and text.rstrip("\n").endswith(eos):
        return text.rstrip("\n")          # the score is read at the EOS itself
    return text + eos


def encode(rm: RewardModel, text: str) -> list[int]:
    from .models.formats import encode_text
    return encode_text(rm.tokenizer, text)


@torch.inference_mode()
def score_ids(rm: RewardModel, rows: list[list[int]], *, batch_size: int = 8, padding_side: str = "right") -> list[float]:
    """Scores of tokenised rows, batched by length, in input order."""
    from .engine.forward import positions_from_mask, run, take_positions
    if any(len(r) == 0 for r in rows):
        raise UserError("empty input: nothing to score")
    body = getattr(rm.model, rm.model.base_model_prefix)
    head = getattr(rm.model, "score", None) or getattr(rm.model, "classifier", None)
    if head is None:
        raise UserError(f"'{rm.spec}' has no score head this scorer knows (score / classifier)")
    pad = rm.tokenizer.pad_token_id if rm.tokenizer.pad_token_id is not None else 0
    dev = rm.input_device
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
    out = [0.0] * len(rows)
    for s in range(0, len(order), batch_size):
        idx = order[s:s + batch_size]
        width = max(len(rows[i]) for i in idx)
        ids = torch.full((len(idx), width), pad, dtype=torch.long)
        mask = torch.zeros((len(idx), width), dtype=torch.long)
        for j, i in enumerate(idx):
            r = torch.tensor(rows[i])
            sl = slice(0, len(r)) if padding_side == "right" else slice(width - len(r), width)
            ids[j, sl], mask[j, sl] = r, 1
        ids, mask = ids.to(dev), mask.to(dev)
        hidden = run(body, input_ids=ids, attention_mask=mask, position_ids=positions_from_mask(mask),
                      use_cache=False).last_hidden_state
        last = width - 1 if padding_side == "left" else None
        at = torch.full((len(idx),), last) if last is not None else mask.sum(-1) - 1
        h = take_positions(hidden, torch.arange(len(idx)), at)
        scores = head(h.to(head.weight.dtype)).float()[:, 0].tolist()       # one copy back per batch
        if any(x != x for x in scores):
            raise UserError("the reward model produced NaN scores; try --dtype fp32 or no quantisation")
        for j, i in enumerate(idx):
            out[i] = scores[j]
    return out


def score(rm: RewardModel, pairs, *, batch_size: int = 8) -> list[float]:
    """Scores of (prompt, response) pairs or message lists."""
    texts = [render(rm, messages=p) if isinstance(p, list) else render(rm, *p) for p in pairs]
    return score_ids(rm, [encode(rm, t) for t in texts], batch_size=batch_size)
