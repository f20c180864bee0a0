"""Sessions: cached == uncached after prefill + fork + ragged appends, for Llama, Gemma-3, Qwen2."""
import numpy as np
import pytest
import torch

from logitscope.kernels.engine.answers import answer_distribution
from logitscope.kernels.engine.forward import next_logprobs
from logitscope.kernels.engine.session import Session, TokenDriftError
from logitscope.kernels.engine.spaces import rps
from logitscope.kernels.engine.sampling import row_rng

WORDS = ["rock", "paper", "scissors", "10", "You won.", "You lost.", "A tie."]


def _chunk(round_no, row):
    rng = np.random.default_rng([round_no, row])
    words = rng.choice(WORDS, size=1 + (row * 3 + round_no) % 5)
    return "\nRound " + str(round_no) + ": " + " ".join(words) + "\nMove:"


@pytest.mark.parametrize("lm_name", ["llama_lm", "gemma_lm", "qwen_lm"])
def test_cached_equals_uncached_after_ten_ragged_rounds(lm_name, request):
    lm = request.getfixturevalue(lm_name)
    n = 4
    s = Session(lm, lm.encode("Let us play rock, paper, scissors.", "Move:"), n)
    assert torch.allclose(s.logprobs[0], next_logprobs(lm, [s.ids[0]])[0], atol=1e-4)
    for rnd in range(10):
        s.append_text([_chunk(rnd, i) for i in range(n)])
    lengths = {len(r) for r in s.ids}
    assert len(lengths) > 1
    if lm_name == "gemma_lm":
        assert min(lengths) > 8 * 4            # well past the tiny sliding window of 8
    fresh = torch.stack([next_logprobs(lm, [r])[0] for r in s.ids])
    assert (s.logprobs - fresh).abs().max() < 1e-4
    # the prompt was forwarded once, then only each row's new tokens
    prompt_len = len(lm.encode("Let us play rock, paper, scissors.", "Move:"))
    assert s.tokens_forwarded == prompt_len + sum(len(r) - prompt_len for r in s.ids)


def test_read_answers_leaves_session_intact_and_matches_fresh(gemma_lm):
    lm = gemma_lm
    s = Session(lm, lm.encode("rock paper", "Move:"), 3)
    s.append_text([" rock\nMove:", " paper paper\nMove:", "\nMove:"])
    before = s.logprobs.clone()
    got = s.read_answers(rps())
    assert torch.equal(s.logprobs, before)
    for i, d in enumerate(got):
        want = answer_distribution(lm, s.ids[i], rps())
        for a in want.answers:
            assert d.answers[a] == pytest.approx(want.answers[a], abs=1e-6)
    again = s.append_text(["\nRound", "\nRound", "\nRound"])
    fresh = torch.stack([next_logprobs(lm, [r])[0] for r in s.ids])
    assert (again - fresh).abs().max() < 1e-4


def test_sampling_is_independent_of_batch_and_chunks(llama_lm):
    lm = llama_lm
    prompt = lm.encode("Numbers:", "")

    def run(rows):
        s = Session(lm, prompt, len(rows))
        return s.sample([row_rng(7, r) for r in rows], max_new_tokens=8, stop="\n")

    all6 = run(list(range(6)))
    assert run([0, 1, 2]) + run([3, 4, 5]) == all6
    assert run([4]) == [all6[4]]
    assert len(set(all6)) > 1


def test_sampled_rows_continue_exactly(qwen_lm):
    lm = qwen_lm
    s = Session(lm, lm.encode("Numbers:", ""), 3)
    s.sample([row_rng(1, r) for r in range(3)], max_new_tokens=6, stop=None)
    fresh = torch.stack([next_logprobs(lm, [r])[0] for r in s.ids])
    assert (s.logprobs - fresh).abs().max() < 1e-4


def test_keep_drops_rows(llama_lm):
    lm = llama_lm
    s = Session(lm, lm.encode("a", ""), 4)
    s.append_text([" rock", " paper paper", " 10", " scissors"])
    s.keep([3, 1])
    assert s.n == 2
    s.append_text(["\nMove:", "\nMove:"])
    fresh = torch.stack([next_logprobs(lm, [r])[0] for r in s.ids])
    assert (s.logprobs - fresh).abs().max() < 1e-4


def test_token_drift_is_an_error(llama_lm):
    lm = llama_lm
    s = Session(lm, "Move", 1)            # "Move" + ":" merges into the token "Move:"
    with pytest.raises(TokenDriftError, match="re-tokenises"):
        s.append_text([":"])


@pytest.mark.parametrize("lm_name", ["llama_lm", "gemma_lm"])
def test_shared_histories_are_forwarded_once_and_fork_exactly(lm_name, request):
    lm = request.getfixturevalue(lm_name)
    prompt = lm.encode("Let us play rock, paper, scissors.", "Move:")
    s = Session(lm, prompt, 6)
    assert s.n_slots == 1
    rounds = [
        [" rock\nMove:"] * 6,                                                    # everyone the same
        [" rock\nMove:", " rock\nMove:", " paper\nMove:", " paper\nMove:", " rock\nMove:", " ten\nMove:"],
        ["", " scissors\nMove:", " rock\nMove:", " rock\nMove:", " rock\nMove:", " rock\nMove:"],
    ]
    expected_slots = [1, 3, 5]   # round 3: rows 0 / 1 / 2 and 3 / 4 / 5 -> five distinct histories
    forwarded = len(prompt)
    for chunks, want in zip(rounds, expected_slots):
        before = [len(r) for r in s.ids]
        s.append_text(chunks)
        distinct = {tuple(r): len(r) - b for r, b in zip(s.ids, before)}   # history -> its new ids
        forwarded += sum(distinct.values())
        assert s.n_slots == want == len(distinct)
    assert s.tokens_forwarded == forwarded          # each distinct history once
    assert len({tuple(r) for r in s.ids}) == 5
    fresh = torch.stack([next_logprobs(lm, [r])[0] for r in s.ids])
    assert (s.logprobs - fresh).abs().max() < 1e-4
    got = s.read_answers(rps())
    assert got[2] is got[3]                          # read once per slot
    for i in (0, 1, 2, 5):
        want = answer_distribution(lm, s.ids[i], rps())
        for a in want.answers:
            assert got[i].answers[a] == pytest.approx(want.answers[a], abs=1e-6)
    s.keep([5, 2, 3])                               # frees the slots no kept row uses
    assert s.n_slots == 2 and s.slot == [0, 1, 1]
    s.append_text(["\nRound", "\nRound", "\nAgain"])
    fresh = torch.stack([next_logprobs(lm, [r])[0] for r in s.ids])
    assert (s.logprobs - fresh).abs().max() < 1e-4


def test_appends_write_into_the_cache_in_place(llama_lm):
    lm = llama_lm
    s = Session(lm, lm.encode("Let us play.", "Move:"), 2)
    s.append_text([" rock\nMove:", " paper\nMove:"])
    s.append_text(["\nMove:", "\nMove:"])
    ptrs = [layer.keys.data_ptr() for layer in s.cache.layers]
    s.read_answers(rps())                            # the tree writes past the rows' length only
    s.append_text(["\nMove:", "\nMove:"])
    assert [layer.keys.data_ptr() for layer in s.cache.layers] == ptrs   # no copy of the cache
    fresh = torch.stack([next_logprobs(lm, [r])[0] for r in s.ids])
    assert (s.logprobs - fresh).abs().max() < 1e-4


@pytest.mark.parametrize("lm_name", ["llama_lm", "gemma_lm"])
def test_keep_with_repeated_rows_forks_them(lm_name, request):
    """keep([0, 0]) makes two rows with one history; each then grows on its own and stays exact."""
    lm = request.getfixturevalue(lm_name)
    s = Session(lm, lm.encode("a", ""), 2)
    s.append_text([" rock", " paper"])
    s.keep([0, 0, 1])
    assert s.ids[0] == s.ids[1] and s.ids[0] is not s.ids[1]
    s.append_text([" paper", "", " rock"])
    s.append_text(["", " paper", ""])
    assert s.texts[0] == s.texts[1] and s.ids[0] == s.ids[1]
    fresh = torch.stack([next_logprobs(lm, [r])[0] for r in s.ids])
    assert (s.logprobs - fresh).abs().max() < 1e-4
    s.keep([2, 0, 0])
    s.append_text([" scissors", " rock", " 10"])
    fresh = torch.stack([next_logprobs(lm, [r])[0] for r in s.ids])
    assert (s.logprobs - fresh).abs().max() < 1e-4


def test_nan_logits_in_a_step_are_a_clear_error_when_read(llama_lm):
    """A step does not wait for the device to check its logits: the check comes with the first read
    (log-probs, answers, a generation step), as one clear error."""
    from logitscope.errors import ModelError
    from logitscope.kernels.engine.generate import generate
    from logitscope.kernels.engine.spaces import rps
    head = llama_lm.model.get_output_embeddings()
    poison = {"on": False}
    hook = head.register_forward_hook(lambda mod, args, out: out.fill_(float("nan")) if poison["on"] else out)
    try:
        s = Session(llama_lm, [5, 6, 7], 2)
        poison["on"] = True
        s.append([[8], [9]], read=False)                 # no error yet: nothing was read
        with pytest.raises(ModelError, match="NaN"):
            _ = s.logprobs
        s.append([[8], [9]], read=False)
        with pytest.raises(ModelError, match="NaN"):
            s.read_answers(rps())
        poison["on"] = False
        with pytest.raises(ModelError, match="NaN"):     # the prompt is fine; the first step is not
            hook2 = head.register_forward_hook(lambda mod, args, out: out.fill_(float("nan")) if out.shape[0] > 1 else out)
            try:
                generate(llama_lm, [5, 6, 7], n=3, max_new_tokens=4, seed=0)
            finally:
                hook2.remove()
    finally:
        hook.remove()
