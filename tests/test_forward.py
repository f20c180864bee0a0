import pytest
import torch

from logitscope.errors import ModelError, UserError
from logitscope.kernels.forward import checked_log_softmax, next_logprobs


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
