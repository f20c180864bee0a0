"""The compiled step's graphs and the static slots' buffers across calls (issue #35.17).

- A 12-temperature sweep on two buckets compiles once per form and bucket (the temperature is a
  tensor input), never recompiles, never falls back to eager, and gives the eager loop's samples.
- `StaticSlots.load` writes into the bucket's buffers: their addresses never change.
- The step's temperature / top-p transform is `sampling.transform`, bit for bit.
- A graph dropped from the bounded cache is freed.
Compiles are counted by a backend that counts its calls (it runs the traced graph as it is) and
by dynamo's own counters, not by the engine's bookkeeping.
"""
import contextlib
import gc
import weakref

import numpy as np
import pytest
import torch

from logitscope.kernels.engine import compiled, static
from logitscope.kernels.engine.generate import generate
from logitscope.kernels.engine.sampling import transform, transform_ops
from logitscope.kernels.engine.session import Session
from logitscope.testing import tiny_lm

TEMPERATURES = [0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 1.1, 1.2, 1.4, 1.6, 2.0, 2.5]


@pytest.fixture
def counted(monkeypatch):
    """Weak references to the graphs the step's backend was given, one per compile."""
    graphs = []

    def backend(gm, example_inputs):
        graphs.append(weakref.ref(gm))
        return gm.forward
    monkeypatch.setattr(static, "BACKEND", backend)
    from torch._dynamo.utils import counters
    counters.clear()
    return graphs


@contextlib.contextmanager
def engine(lm):
    lm._static_engine = compiled.StaticEngine(lm, compiled=True)
    try:
        yield lm._static_engine
    finally:
        lm._static_engine.graphs.clear()
        del lm._static_engine


def _same(a, b):
    for x, y in zip(a, b, strict=True):
        assert x.ids == y.ids and x.text == y.text
        for f in ("logprob", "sample_logprob", "entropy", "top5_entropy"):
            assert np.allclose(getattr(x, f), getattr(y, f), atol=1e-5, rtol=0), f


def test_a_temperature_sweep_compiles_once_per_bucket(counted, capsys):
    """12 temperatures x 2 buckets (3 and 6 rows): 2 compiles (one form: T != 1), no recompile
    (dynamo's error_on_recompile), no eager fallback, the same K/V buffers through each bucket's
    sweep, and every run gives the eager loop's samples (so each temperature's value was used).
    Before: 24 entries on one code object; past the 8th the step fell back to eager."""
    from torch._dynamo.utils import counters
    lm = tiny_lm("llama", None, seed=4)
    lm.model.config._attn_implementation = "sdpa"
    kw = dict(max_new_tokens=4, seed=1)
    with engine(lm) as eng, torch._dynamo.config.patch(error_on_recompile=True):
        for n in (3, 6):
            addresses = set()
            for t in TEMPERATURES:
                got = generate(lm, "Move: rock", n=n, temperature=t, compile="on", **kw)
                _same(generate(lm, "Move: rock", n=n, temperature=t, compile="off", **kw), got)
                (slots,) = eng._slots.values()
                addresses.add(tuple(buf.data_ptr() for kv in slots.kv for buf in kv))
            assert len(addresses) == 1
        assert all(s.fn is not s._step for s in eng._steps.values())     # the last call ran compiled
        assert len(eng._steps) == 12 and len(eng.graphs) == 2
    assert len(counted) == 2 and counters["stats"]["unique_graphs"] == 2
    assert "did not compile" not in capsys.readouterr().err


def test_load_writes_the_buckets_buffers_in_place(llama_lm):
    """12 loads of prompts of different lengths into one bucket: every buffer keeps its address,
    the cache object stays, columns past the prompt are zero; and 5 samples in chunks of 2 (three
    loads, the last chunk padded to the bucket of 2) equal the eager loop's."""
    slots = static.StaticSlots(llama_lm, 4, 64)
    seen = set()
    for k in range(12):
        root = Session(llama_lm, llama_lm.encode("Move: rock" + " paper" * (k % 4)), 1)
        slots.load(root, 0)
        n = root.slot_len[0]
        seen.add((id(slots.cache), slots.mask.data_ptr(), *(b.data_ptr() for kv in slots.kv for b in kv)))
        assert all(not b[:, :, n:].any() and b[:, :, :n].abs().sum() > 0 for kv in slots.kv for b in kv)
        assert slots.used == n and int(slots.col) == n and int(slots.mask.sum()) == 4 * n
    assert len(seen) == 1
    kw = dict(n=5, max_new_tokens=10, seed=3, batch_size=2, temperature=1.3)
    eager = generate(llama_lm, "Move: rock", compile="off", **kw)
    llama_lm._static_engine = compiled.StaticEngine(llama_lm, compiled=False)
    try:
        got = generate(llama_lm, "Move: rock", compile="on", **kw)
        assert list(llama_lm._static_engine._slots) == [(2, 64)]
    finally:
        del llama_lm._static_engine
    _same(eager, got)


@pytest.mark.parametrize("temperature,top_p", [(0.7, 1.0), (1.3, 0.9), (1.0, 0.5), (0.45, 0.95), (2.0, 0.1)])
def test_the_steps_transform_is_sampling_transform(temperature, top_p):
    """The step's transform with the temperature and 1 - top-p as 0-d float32 tensors equals
    `sampling.transform` with Python floats, bit for bit (the kernels cast the floats to float32)."""
    g = torch.Generator().manual_seed(0)
    lp = torch.log_softmax(torch.randn(6, 3000, generator=g) * 4, -1)
    values = [torch.tensor(x, dtype=torch.float32) for x in (temperature, 1 - top_p)]
    got = transform_ops(lp, *values, temperature != 1.0, top_p < 1.0)
    assert torch.equal(got, transform(lp, temperature, top_p))


def test_a_dropped_graph_is_freed(counted, llama_lm):
    """A cache of one graph: the second bucket's graph drops the first, which is freed (its graph
    and the compiled function dynamo put in the module's globals); the first bucket compiles again."""
    root = Session(llama_lm, llama_lm.encode("Move: rock"), 1)
    graphs = compiled.StepGraphs(limit=1)
    step = static.DecodeStep(llama_lm, temperature=0.7, compiled=True, graphs=graphs)
    fns = lambda: {k for k in vars(static) if k.startswith("__compiled_fn")}  # noqa: E731
    before = fns()
    for width in (2, 4, 2):
        slots = static.StaticSlots(llama_lm, width, 64)
        slots.load(root, 0)
        step(slots, torch.full((width,), 5), torch.arange(width), torch.rand(width, dtype=torch.float64))
        assert step.fn is not step._step and len(graphs) == 1
    del slots
    step.fn = None
    gc.collect()
    assert len(counted) == 3
    assert [g() is None for g in counted] == [True, True, False]
    assert len(fns() - before) == 1
    graphs.clear()
    gc.collect()
    assert counted[2]() is None and fns() == before
