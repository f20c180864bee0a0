"""Device placement under model maps, simulated on the CPU.

Offloaded embeddings: with the embedding (and head) on "disk", input ids must go to the device its
accelerate hook executes on, not to the weight's `meta` device.

Two GPUs: with the embedding on cuda:0 and the final norm on cuda:1, index tensors built on the
embedding's device cannot index the body's output. `TwoDevices` replays that on the CPU: tensors
made on (or moved to) `A` (the patched input device, cpu:0) carry the tag A through every op, the
final norm's outputs carry B, and indexing a B tensor with an A index fails as it would on GPUs.
"""
import json
import weakref

import numpy as np
import pytest
import torch
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten

from logitscope.kernels.models.loading import LM, load_model
from logitscope.kernels.engine.session import Session
from logitscope.kernels.engine.spaces import rps
from logitscope.testing import save_tiny_lm, tiny_lm, tiny_reward_model

A = torch.device("cpu", 0)


class TwoDevices(TorchFunctionMode):
    def __init__(self):
        super().__init__()
        self.tags: dict[int, tuple] = {}

    def tag(self, t, which):
        if isinstance(t, torch.Tensor):
            self.tags[id(t)] = (weakref.ref(t), which)

    def tag_of(self, t):
        got = self.tags.get(id(t))
        return got[1] if got and got[0]() is t else None

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        inputs = [x for x in tree_flatten((args, kwargs))[0] if isinstance(x, torch.Tensor)]
        if func is torch.Tensor.__getitem__ and self.tag_of(args[0]) == "B":
            index = args[1] if isinstance(args[1], tuple) else (args[1],)
            if any(self.tag_of(i) == "A" for i in index if isinstance(i, torch.Tensor)):
                raise RuntimeError("indices should be on the same device as the indexed tensor (cuda:0 vs cuda:1)")
        out = func(*args, **kwargs)
        device = kwargs.get("device")
        if func is torch.Tensor.to:
            device = next((a for a in args[1:] if isinstance(a, (torch.device, str))), device)
        if device is not None:
            self.tag(out, "A" if torch.device(device) == A else None)
        else:
            tags = {self.tag_of(x) for x in inputs} - {None}
            if tags:
                self.tag(out, "B" if "B" in tags else "A")
        return out


@pytest.fixture
def two_devices(monkeypatch):
    monkeypatch.setattr(LM, "input_device", property(lambda self: A))
    mode = TwoDevices()
    return mode


def _norm_on_b(model, mode):
    body = getattr(model, model.base_model_prefix)
    return body.norm.register_forward_hook(lambda m, i, o: mode.tag(o, "B"))


def test_two_devices_session_and_tree(two_devices):
    lm = tiny_lm("llama")
    want = Session(lm, lm.encode("Let us play.", "Move:"), 3)
    want.append_text([" rock\nMove:", " paper paper\nMove:", "\nMove:"])
    want_answers = want.read_answers(rps())
    handle = _norm_on_b(lm.model, two_devices)
    try:
        with two_devices:
            s = Session(lm, lm.encode("Let us play.", "Move:"), 3)
            s.append_text([" rock\nMove:", " paper paper\nMove:", "\nMove:"])
            got = s.read_answers(rps())
    finally:
        handle.remove()
    assert (s.logprobs - want.logprobs).abs().max() < 1e-6
    for a, b in zip(got, want_answers):
        assert a.answers == pytest.approx(b.answers, abs=1e-9)


def test_two_devices_reward_scores(two_devices, tmp_path, monkeypatch):
    from logitscope.kernels.reward import RewardModel, load_reward_model, score
    rm = load_reward_model(str(tiny_reward_model(tmp_path / "rm")))
    pairs = [("Pick a number.", "7"), ("Pick a move.", "rock paper scissors")]
    want = score(rm, pairs)
    monkeypatch.setattr(RewardModel, "input_device", property(lambda self: A))
    handle = _norm_on_b(rm.model, two_devices)
    try:
        with two_devices:
            got = score(rm, pairs)
    finally:
        handle.remove()
    assert got == pytest.approx(want, abs=1e-6)


def test_offloaded_embedding_and_head(tmp_path):
    path = str(save_tiny_lm(tmp_path / "tiny", "llama", layers=4, hidden=64, peak=3.0, seed=2))
    dm = {"model.embed_tokens": "disk", "model.layers.0": "cpu", "model.layers.1": "disk", "model.layers.2": "cpu",
          "model.layers.3": "cpu", "model.norm": "disk", "model.rotary_emb": "cpu", "lm_head": "disk"}
    (tmp_path / "map.json").write_text(json.dumps(dm))
    ref = load_model(path)
    off = load_model(path, device_map=str(tmp_path / "map.json"), offload_folder=str(tmp_path / "off"))
    assert off.model.get_input_embeddings().weight.device.type == "meta" and off.input_device.type == "cpu"
    runs = []
    for lm in (ref, off):
        s = Session(lm, lm.encode("Let us play.", "Move:"), 2)
        s.append_text([" rock\nMove:", " paper paper\nMove:"])
        runs.append((s.logprobs, s.read_answers(rps())))
    assert (runs[0][0] - runs[1][0]).abs().max() < 1e-5
    for a, b in zip(runs[0][1], runs[1][1]):
        assert np.allclose(list(a.answers.values()), list(b.answers.values()), atol=1e-6)


def test_cpu_gqa_is_scoped_to_cpu_tensors(tmp_path, monkeypatch):
    """Loading a CPU model lets SDPA use grouped heads for CPU tensors only, without touching the
    process environment, so a later CUDA model keeps transformers' own rule."""
    import inspect
    import os

    from transformers.integrations import sdpa_attention as sa
    monkeypatch.delenv("TRANSFORMERS_SDPA_FORCE_GQA", raising=False)
    load_model(str(save_tiny_lm(tmp_path / "tiny", "llama")), device="cpu")
    assert "TRANSFORMERS_SDPA_FORCE_GQA" not in os.environ
    mask = torch.ones(1, 1, 3, 3, dtype=torch.bool)
    # transformers' own function takes (mask, key) up to 5.2x, then (mask, key, value)
    n = len(inspect.signature(sa.use_gqa_in_sdpa.original).parameters)
    cpu_kv = torch.zeros(1, 2, 3, 8)
    assert sa.use_gqa_in_sdpa(mask, *[cpu_kv] * (n - 1)) is True
    other = torch.zeros(1, 2, 3, 8, device="meta")           # stands for a CUDA tensor: transformers' rule
    assert sa.use_gqa_in_sdpa(mask, *[other] * (n - 1)) is False
    assert sa.use_gqa_in_sdpa(None, *[other] * (n - 1)) is True
