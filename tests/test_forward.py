import pytest
import torch

from logitscope.errors import ModelError, UserError
from logitscope.kernels.forward import SMALL_BATCH, body_and_head, checked_log_softmax, head_logits, next_logprobs, \
    row_logsumexp


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
