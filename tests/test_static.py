"""Static slots and the captured decode step (kernels/engine/static.py).

- On static slots, the step run eagerly gives the eager Session loop's texts and numbers (fp32,
  1e-5) for Llama, Gemma-3 (sliding window 8, exceeded) and Qwen2, sampled, top-p and greedy.
- Compiled with fullgraph=True (no graph break), two settings share one graph and run 100 steps
  with forks and a compaction without recompiling after its warm-up, equal to the eager step to 1e-5
  (a sweep's graphs and the buffers across calls: tests/test_static_graphs.py).
"""
import contextlib

import numpy as np
import pytest
import torch

from logitscope.kernels.engine import compiled, static
from logitscope.kernels.engine.generate import generate
from logitscope.testing import tiny_lm


@contextlib.contextmanager
def static_engine(lm, compiled_step):
    """Within it, `generate(..., compile="on")` on `lm` decodes on static slots, the step compiled
    or not (`compiled_step`); the LM is left as it was."""
    lm._static_engine = compiled.StaticEngine(lm, compiled=compiled_step)
    try:
        yield lm._static_engine
    finally:
        if lm._static_engine.graphs is not None:
            lm._static_engine.graphs.clear()       # frees the compiled graphs
        del lm._static_engine


def _close(a, b, tol=1e-5):
    for x, y in zip(a, b):
        assert x.ids == y.ids and x.finish == y.finish and x.text == y.text
        for f in ("logprob", "sample_logprob", "entropy", "top5_entropy"):
            assert np.allclose(getattr(x, f), getattr(y, f), atol=tol, rtol=0), f
        assert [[t for t, _ in r] for r in x.top5] == [[t for t, _ in r] for r in y.top5]
        assert np.allclose([[p for _, p in r] for r in x.top5], [[p for _, p in r] for r in y.top5], atol=tol)


@pytest.mark.parametrize("arch", ["llama_lm", "gemma_lm", "qwen_lm"])
@pytest.mark.parametrize("settings", [dict(temperature=1.0), dict(temperature=1.3, top_p=0.9), dict(greedy=True)])
def test_static_slots_equal_the_session_loop(arch, settings, request):
    """The same seeded samples, token for token, and the same per-token numbers (1e-5), with rows
    forking at the first token, finishing at different steps (a stop string) and 40 tokens past
    Gemma-3's sliding window of 8."""
    lm = request.getfixturevalue(arch)
    kw = dict(n=7, max_new_tokens=40, seed=5, stop="s", **settings)
    eager = generate(lm, "Move: rock", compile="off", **kw)
    with static_engine(lm, compiled_step=False):
        got = generate(lm, "Move: rock", compile="on", **kw)
    assert len({len(s.ids) for s in eager}) > 1 or settings.get("greedy")
    _close(eager, got)


def test_buckets():
    assert [static.bucket(n) for n in (1, 2, 3, 5, 100, 128, 129)] == [1, 2, 4, 8, 128, 128, 256]
    assert static.capacity_bucket(10) == 64 and static.capacity_bucket(300) == 512


def test_compile_setting():
    assert compiled.compile_wanted("auto", "cuda") and not compiled.compile_wanted("auto", "cpu")
    assert compiled.compile_wanted("on", "cpu") and not compiled.compile_wanted("off", "cuda")
    from logitscope.errors import UserError
    with pytest.raises(UserError, match="--compile takes auto, on, off"):
        compiled.compile_wanted("yes", "cpu")


def _drive(lm, step, parents_at, steps=100, rows=6):
    """`steps` decode steps of `rows` rows on static slots (room for 100) from one prompt, feeding
    each slot the token its first row drew, with the in-place gathers `parents_at[k]` before step k.
    Returns the tables (host float64)."""
    from logitscope.kernels.engine.session import Session
    root = Session(lm, lm.encode("Move: rock"), 1)
    slots = static.StaticSlots(lm, static.bucket(rows), static.capacity_bucket(root.slot_len[0] + 101))
    slots.load(root, 0)
    rng = np.random.default_rng(0)
    row_slot = torch.arange(slots.slots) % rows
    ids = torch.full((slots.slots,), 5, dtype=torch.long)
    tables = []
    for k in range(steps):
        if k in parents_at:
            slots.gather(torch.tensor(parents_at[k]))
        table = step(slots, ids, row_slot, torch.from_numpy(rng.random(slots.slots)))
        host = table.numpy().copy()
        tables.append(host)
        ids = torch.from_numpy(host[:, 0].astype(np.int64))[:slots.slots]
    return tables


def test_compiled_step_is_one_graph_without_recompiles():
    """torch.compile(fullgraph=True, dynamic=False) on the step (inductor on the CPU): a graph break
    would raise; two settings (temperature and top-p are tensor inputs) share one graph; after the
    warm-up step, 100 steps of each with two forks and a compaction (in-place gathers) compile
    nothing new (dynamo's error_on_recompile) and never fall back to eager; every table equals the
    eager step's to 1e-5, with the same draws (peak 4: no near-ties among the top 5 that float
    rounding could reorder)."""
    import torch._dynamo
    lm = tiny_lm("llama", None, peak=4.0)
    lm.model.config._attn_implementation = "sdpa"
    parents_at = {1: [0, 0, 0, 0, 0, 0, 6, 7],            # every slot forks from the prompt's
                  30: [0, 1, 2, 2, 3, 3, 6, 7],            # two forks
                  60: [1, 2, 4, 5, 5, 5, 5, 5]}            # a compaction: slots 0 and 3 dropped
    settings = [dict(temperature=0.8, top_p=0.9), dict(temperature=1.3, top_p=0.95)]
    eager = [_drive(lm, static.DecodeStep(lm, compiled=False, **kw), parents_at) for kw in settings]
    torch._dynamo.reset()
    graphs = compiled.StepGraphs()
    steps = [static.DecodeStep(lm, compiled=True, graphs=graphs, **kw) for kw in settings]
    from torch._dynamo.utils import counters
    counters.clear()
    warm = _drive(lm, steps[0], parents_at, steps=1)
    assert counters["stats"]["unique_graphs"] == 1 and not counters["graph_break"]
    with torch._dynamo.config.patch(error_on_recompile=True):
        got = [_drive(lm, step, parents_at) for step in steps]
    assert counters["stats"]["unique_graphs"] == 1 and len(graphs) == 1
    assert all(step.fn is not step._step for step in steps)   # still the compiled function (no fallback)
    assert np.allclose(warm[0], eager[0][0], atol=1e-5)
    for ref, run in zip(eager, got):
        for a, b in zip(ref, run):
            assert np.array_equal(a[:, 0], b[:, 0])         # the same draws
            assert np.allclose(a, b, atol=1e-5, rtol=0)
    assert not np.allclose(got[0][5], got[1][5], atol=1e-3)  # each step used its own values
    graphs.clear()


def test_compile_option_reaches_generation(tmp_path, monkeypatch):
    """--compile on a command that loads a model: load_model keeps the setting (and says it in the
    provenance), generation then decodes on static slots with the compiled step (traced by dynamo
    with fullgraph=True; the eager backend here, for time) and writes the eager run's texts."""
    import json

    from click.testing import CliRunner

    from logitscope.cli.main import main
    from logitscope.kernels.models.loading import load_model
    from logitscope.testing import save_tiny_lm
    monkeypatch.setattr(static, "BACKEND", "eager")
    path = str(save_tiny_lm(tmp_path / "m", "llama", seed=3))
    lm = load_model(path, compile="on")
    assert lm.compile == "on" and lm.info["compile"] == "on"
    calls = []
    monkeypatch.setattr(static.StaticSlots, "gather", lambda self, parents, f=static.StaticSlots.gather:
                        (calls.append(parents), f(self, parents))[1])
    outs = {}
    for setting in ("off", "on"):
        r = CliRunner().invoke(main, ["entropy", "--model", path, "--samples", "3", "--max-new-tokens", "12",
                                      "--compile", setting, "--out", str(tmp_path / setting), "--json"])
        assert r.exit_code == 0, r.output
        files = list((tmp_path / setting / "entropy").glob("*.jsonl"))
        outs[setting] = [json.loads(x)["text"] for f in files for x in open(f)
                         if json.loads(x).get("type") == "unit"]
        head = json.loads(open(files[0]).readline())
        assert head["provenance"]["model_info"]["compile"] == setting
    assert outs["on"] == outs["off"] and len(outs["on"]) == 3
    assert calls                                      # the static slots were used (rows forked from the prompt)


def test_a_step_that_does_not_compile_falls_back_with_one_line(llama_lm, monkeypatch, capsys):
    """A compile failure (here a backend that raises) is said in one line and the step runs
    eagerly: the same samples as the eager loop."""
    def broken(gm, example_inputs):
        raise RuntimeError("no C++ compiler found\nsecond line")
    monkeypatch.setattr(static, "BACKEND", broken)
    kw = dict(n=4, max_new_tokens=8, seed=2)
    eager = generate(llama_lm, "Move: rock", compile="off", **kw)
    with static_engine(llama_lm, compiled_step=True):
        got = generate(llama_lm, "Move: rock", compile="on", **kw)
    _close(eager, got)
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if "did not compile" in x]
    assert len(lines) == 1 and "no C++ compiler found" in lines[0] and "second line" not in err


def test_every_command_that_loads_a_model_takes_compile():
    """--compile auto|on|off on every command with a --model option (plan reads a config only; reward's
    --model models are read exactly, never decoded)."""
    import click

    from logitscope.cli.main import main

    def commands(group, prefix=()):
        for name, cmd in group.commands.items():
            if isinstance(cmd, click.Group):
                yield from commands(cmd, prefix + (name,))
            else:
                yield prefix + (name,), cmd
    checked = []
    for name, cmd in commands(main):
        opts = {o for p in cmd.params for o in getattr(p, "opts", [])}
        if "--model" in opts and name not in (("plan",), ("reward",)):
            assert "--compile" in opts, name
            checked.append(name)
    assert {("determinism",), ("entropy",), ("explore",), ("compare",)} <= set(checked)


def test_a_temperature_that_is_not_finite_is_one_line(llama_lm):
    """inf (or nan) made every logit NaN; it is refused like 0, before any work."""
    from logitscope.errors import UserError
    for t in (float("inf"), float("nan"), 0.0):
        with pytest.raises(UserError, match="temperature must be a finite number > 0"):
            generate(llama_lm, "Move: rock", n=1, max_new_tokens=2, temperature=t)


def test_a_soft_capped_model_in_bf16_gives_the_eager_loops_texts():
    """Logit soft-capping (Gemma-2's final_logit_softcapping) is applied in the model's dtype, as
    its forward and the eager loop do: in bf16 the static step gave other log-probs (up to 0.08
    nats) and other texts when it capped in float32."""
    from logitscope.testing import sentencepiece_tokenizer
    lm = tiny_lm("gemma3", sentencepiece_tokenizer(), sliding_window=8, peak=40.0, seed=3, dtype=torch.bfloat16)
    lm.model.config.final_logit_softcapping = 30.0
    kw = dict(n=6, max_new_tokens=12, seed=1)
    eager = generate(lm, lm.encode("Move: rock paper"), compile="off", **kw)
    with static_engine(lm, compiled_step=False):
        got = generate(lm, lm.encode("Move: rock paper"), compile="on", **kw)
    for a, b in zip(eager, got):
        assert a.ids == b.ids
        assert np.allclose(a.logprob, b.logprob, atol=1e-6, rtol=0)
