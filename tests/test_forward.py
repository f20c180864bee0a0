import pytest
import torch

from logitscope.errors import ModelError, UserError
from logitscope.kernels.engine import forward
from logitscope.kernels.engine.forward import SMALL_BATCH, body_and_head, checked_log_softmax, head_logits, head_logits_lse, \
    next_logprobs, row_logsumexp


@pytest.mark.parametrize("lm_name", ["llama_lm", "gemma_lm", "qwen_lm"])
def test_padded_batch_equals_rows_alone(lm_name, request):
    lm = request.getfixturevalue(lm_name)
    prompts = ["rock", "Move: paper scissors 10", "1", "Round 1: You won. Move:"]
    rows = [lm.encode(p) for p in prompts]
    assert len({len(r) for r in rows}) > 1
    batch = next_logprobs(lm, rows)
    assert batch.dtype == torch.float32 and batch.shape == (4, lm.model.config.vocab_size)
    for i, r in enumerate(rows):
        alone = next_logprobs(lm, [r])[0]
        assert torch.allclose(batch[i], alone, atol=1e-4), (lm_name, i, (batch[i] - alone).abs().max())


def test_empty_prompt_is_a_user_error(llama_lm):
    with pytest.raises(UserError, match="empty prompt"):
        next_logprobs(llama_lm, [[]])


def test_nan_logits_are_a_clear_error():
    with pytest.raises(ModelError, match="NaN"):
        checked_log_softmax(torch.tensor([[0.0, float("nan")]]))
    assert torch.isfinite(checked_log_softmax(torch.tensor([[0.0, float("-inf")]]))[0, 0])


def test_row_logsumexp_matches_torch_and_rejects_nan_and_inf():
    x = torch.randn(21, 1000) * 5
    x[3, :500] = float("-inf")                       # masked tokens are fine
    assert torch.allclose(row_logsumexp(x, block=4), torch.logsumexp(x, -1), atol=1e-5)
    for bad in (float("nan"), float("inf")):
        y = x.clone()
        y[17, 9] = bad
        with pytest.raises(ModelError, match="rows \\[17\\]"):
            row_logsumexp(y)


def test_small_batch_head_equals_the_module(gemma_lm):
    model = gemma_lm.model
    for n in (1, 3, SMALL_BATCH, SMALL_BATCH + 1):
        h = torch.randn(n, model.config.hidden_size)
        got = head_logits(model, h)
        assert got.is_contiguous() and got.shape == (n, model.config.vocab_size)
        assert torch.allclose(got, body_and_head(model)[1](h), atol=1e-5)
    hook = body_and_head(model)[1].register_forward_hook(lambda mod, args, out: out + 1.0)
    try:                                             # a hooked head (biases, accelerate offload) is called
        assert torch.allclose(head_logits(model, h[:2]), body_and_head(model)[1](h[:2]), atol=1e-5)
        assert torch.allclose(head_logits(model, h[:2]), got[:2] + 1.0, atol=1e-5)
    finally:
        hook.remove()


@pytest.mark.parametrize("chunk", [7, 64, 4096])                     # blocks that do not divide the vocabulary, one block
@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_blocked_head_normaliser_and_set_sums_equal_the_module(gemma_lm, monkeypatch, chunk, temperature):
    model = gemma_lm.model
    vocab = model.config.vocab_size
    monkeypatch.setattr(forward, "HEAD_CHUNK", chunk)
    monkeypatch.setattr(model.config, "final_logit_softcapping", 3.0)   # capped like Gemma-2's head
    h = torch.randn(5, model.config.hidden_size) * 4
    sets = (torch.rand(3, vocab) < 0.4).float()

    def check(scores, lse, mass, want):
        assert scores.shape == (vocab, 5) and lse.dtype == mass.dtype == torch.float64
        assert torch.allclose(scores.t(), want, atol=1e-5)
        p = torch.softmax(want.double() / temperature, -1)
        assert torch.allclose(lse, torch.logsumexp(want.double() / temperature, -1), atol=1e-5)
        assert mass.shape == (3, 5) and torch.allclose(mass, sets.double() @ p.t(), atol=1e-6)

    check(*head_logits_lse(model, h, temperature, sets), torch.tanh(body_and_head(model)[1](h) / 3.0) * 3.0)
    hook = body_and_head(model)[1].register_forward_hook(lambda mod, args, out: out + 1.0)
    try:                                             # hooked heads take the module's own path
        check(*head_logits_lse(model, h, temperature, sets), torch.tanh(body_and_head(model)[1](h) / 3.0) * 3.0)
    finally:
        hook.remove()
    assert head_logits_lse(model, h, temperature)[2].shape == (0, 5)
    for bad in (float("nan"), float("inf")):
        g = h.clone()
        g[3] = bad
        with pytest.raises(ModelError, match="rows \\[3\\]"):
            head_logits_lse(model, g, temperature, sets)


@pytest.mark.parametrize("chunk", [7, 64, 4096])
@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_module_path_blocks_equal_the_module(gemma_lm, monkeypatch, chunk, temperature):
    """The accelerator path (the head module's logits reduced in blocks where they are), forced on the CPU."""
    model = gemma_lm.model
    monkeypatch.setattr(forward, "_plain_cpu_head", lambda *a, **k: None)
    monkeypatch.setattr(forward, "DEVICE_CHUNK", chunk)
    h = torch.randn(5, model.config.hidden_size) * 4
    sets = (torch.rand(3, model.config.vocab_size) < 0.4).float()
    want = body_and_head(model)[1](h)
    scores, lse, mass = head_logits_lse(model, h, temperature, sets)
    p = torch.softmax(want.double() / temperature, -1)
    assert torch.allclose(scores.t(), want, atol=1e-5)
    assert torch.allclose(lse, torch.logsumexp(want.double() / temperature, -1), atol=1e-5)
    assert torch.allclose(mass, sets.double() @ p.t(), atol=1e-6)
    lp = torch.log_softmax(want, -1)
    assert torch.allclose(forward.set_sums(sets, lp, chunk), sets.double() @ lp.double().exp().t(), atol=1e-6)


class _BigCopies(torch.overrides.TorchFunctionMode):
    """Records float64 tensors of a whole vocabulary row or more, and host copies of vocabulary-sized tensors."""

    def __init__(self, vocab):
        super().__init__()
        self.vocab, self.seen = vocab, []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        src = args[0] if args and isinstance(args[0], torch.Tensor) else None
        whole_rows = src is not None and self.vocab in src.shape
        if (func in (torch.Tensor.double, torch.Tensor.to) and whole_rows and src.dtype == torch.float32
                and isinstance(out, torch.Tensor) and out.dtype == torch.float64):
            self.seen.append(f"float64 copy of {tuple(src.shape)}")
        if func in (torch.Tensor.cpu, torch.Tensor.numpy) and whole_rows:
            self.seen.append(f"host copy {tuple(src.shape)}")
        return out


@pytest.mark.parametrize("top_p", [1.0, 0.9])
def test_module_path_reads_only_what_it_needs(monkeypatch, top_p):
    """On the module path, an exact expansion makes no float64 [rows, vocab] tensor and copies no
    vocabulary row to the host, and its answers equal the CPU path's."""
    from logitscope.kernels.engine import answers as answers_mod
    from logitscope.kernels.engine.answers import expand_exact, prefill
    from logitscope.kernels.engine.spaces import AnswerSpace
    from logitscope.testing import bytelevel_tokenizer, tiny_lm
    junk = [a + b + c for a in "xyzgh" for b in "qwvkfd" for c in "jmnprst"]   # tokens no branch reads one by one
    tok = bytelevel_tokenizer(words=["10", "1.", " 1", " 7", "7.", "  "] + junk, alphabet="0127 .\naAb",
                              specials=["<eos>", "<pad>"],
                              bos=None, eos="<eos>", pad="<pad>", chat_template=None)
    lm = tiny_lm("llama", tok, seed=3, peak=4.0)
    space = AnswerSpace.of("adv", {"1": ["1"], "10": ["10"], "7": ["7"], "a": ["a", "A"]})
    monkeypatch.setattr(answers_mod, "BIG_SET", 3)               # every valid set is summed as a set
    monkeypatch.setattr(answers_mod, "_INDEXES", {})
    prompts = [tok("1 7", add_special_tokens=False)["input_ids"], tok("a a 1", add_special_tokens=False)["input_ids"]]
    kw = dict(top_p=top_p, min_mass=1e-300, max_steps=3, max_branches=64)     # at most 128 rows < the vocabulary
    want = expand_exact(lm, prefill(lm, prompts), space, **kw)
    monkeypatch.setattr(forward, "_plain_cpu_head", lambda *a, **k: None)
    monkeypatch.setattr(forward, "DEVICE_CHUNK", 8, raising=False)
    from logitscope.kernels.engine import tree
    monkeypatch.setattr(tree, "HOST_DEVICES", (), raising=False)  # gather as on an accelerator
    roots = prefill(lm, prompts)
    mode = _BigCopies(len(tok))
    with mode:
        got = expand_exact(lm, roots, space, **kw)
    assert not mode.seen, mode.seen[:3]
    for a, b in zip(got, want):
        assert list(a.answers.values()) == pytest.approx(list(b.answers.values()), abs=1e-7)
        assert a.invalid_mass == pytest.approx(b.invalid_mass, abs=1e-7)
