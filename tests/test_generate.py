"""The generation kernel: statistics by hand, seeds independent of batching, draws against the exact
distribution (chi-square), cached rows against a naive full-forward sampler, teacher forcing."""
import math

import numpy as np
import pytest
import torch
from scipy import stats

from logitscope.errors import UserError
from logitscope.kernels.engine.forward import next_logprobs
from logitscope.kernels.engine.generate import distribution_stats, generate, teacher_forced
from logitscope.kernels.engine.sampling import row_rng, transform
from logitscope.testing import tiny_lm


def test_entropies_equal_a_hand_computation():
    p = np.array([0.4, 0.2, 0.15, 0.1, 0.05, 0.05, 0.03, 0.02])
    lp = torch.tensor(np.log(p))[None]
    ent, top_ent, top_lp, top_ids = distribution_stats(lp)
    assert float(ent[0]) == pytest.approx(-(p * np.log2(p)).sum(), abs=1e-6)
    top = np.array([0.4, 0.2, 0.15, 0.1, 0.05])
    q = top / top.sum()
    assert float(top_ent[0]) == pytest.approx(stats.entropy(q, base=2), abs=1e-9)
    assert top_ids[0, :4].tolist() == [0, 1, 2, 3] and top_ids[0, 4] in (4, 5)
    assert np.exp(top_lp[0].numpy()) == pytest.approx(top, abs=1e-12)
    cut = torch.tensor([[0.0, -math.inf, math.log(1.0)]]) - math.log(2)   # a zero-probability token adds nothing
    assert float(distribution_stats(cut)[0][0]) == pytest.approx(1.0)
    assert float(distribution_stats(cut, k=2)[1][0]) == pytest.approx(1.0)


@pytest.fixture(scope="module")
def lm():
    return tiny_lm("llama", peak=2.0, seed=1)


def test_same_seed_same_texts_for_any_batch_size(lm):
    runs = [generate(lm, "Numbers:", n=8, max_new_tokens=12, seed=3, batch_size=b) for b in (1, 3, 8)]
    for a, b in zip(runs[0], runs[1]):
        assert a.ids == b.ids and a.text == b.text
    for a, b in zip(runs[0], runs[2]):
        assert a.ids == b.ids and a.logprob == pytest.approx(b.logprob, abs=1e-5)
    assert len({s.text for s in runs[0]}) > 1
    sub = generate(lm, "Numbers:", indices=[5, 2], max_new_tokens=12, seed=3)
    assert [s.ids for s in sub] == [runs[0][5].ids, runs[0][2].ids]


def naive_sample(lm, prompt_ids, index, seed, max_new, temperature=1.0, top_p=1.0):
    """One row at a time, the whole text forwarded from scratch at every step."""
    rng, ids, out, lps = row_rng(seed, index), list(prompt_ids), [], []
    ends = set(lm.tokenizer.all_special_ids)
    for _ in range(max_new):
        model_lp = next_logprobs(lm, [ids])[0]
        lp = transform(model_lp, temperature, top_p).double()
        cdf = lp.exp().cumsum(-1)
        t = int(torch.searchsorted(cdf, torch.tensor([rng.random() * float(cdf[-1])], dtype=torch.float64), right=True))
        out.append(t)
        lps.append(float(model_lp[t]))
        ids.append(t)
        if t in ends:
            break
    return out, lps


@pytest.mark.parametrize("settings", [(1.0, 1.0), (1.5, 0.9)])
def test_cached_rows_equal_a_naive_sampler(lm, settings):
    """Rows that end early leave the batch; every row's tokens and log-probs equal the naive loop's."""
    t, p = settings
    peaked = tiny_lm("llama", peak=6.0, seed=4)          # sharp: some rows reach EOS early
    prompt = peaked.encode("Round")
    got = generate(peaked, prompt, n=10, max_new_tokens=10, seed=2, temperature=t, top_p=p)
    assert any(s.finish == "eos" for s in got) and any(s.finish == "length" for s in got)
    for s in got:
        ids, lps = naive_sample(peaked, prompt, s.index, 2, 10, t, p)
        assert s.ids == ids
        assert s.logprob == pytest.approx(lps, abs=1e-4)
        assert len(s.pieces) == len(s.ids) == len(s.entropy) == len(s.top5)


@pytest.mark.parametrize("settings", [(1.0, 1.0), (2.0, 1.0), (1.0, 0.8)])
def test_first_tokens_follow_the_exact_distribution(lm, settings):
    """4000 seeded first tokens against the exact next-token distribution after T / top-p."""
    t, p = settings
    prompt = lm.encode("Move:")
    want = transform(next_logprobs(lm, [prompt])[0], t, p).double().exp().numpy()
    got = generate(lm, prompt, n=4000, max_new_tokens=1, seed=9, temperature=t, top_p=p, batch_size=1000)
    counts = np.bincount([s.ids[0] for s in got], minlength=len(want)).astype(float)
    assert counts[want == 0].sum() == 0                                  # top-p never draws a cut token
    exp = want * len(got)
    big = exp >= 5
    f_obs = np.append(counts[big], counts[~big].sum())
    f_exp = np.append(exp[big], exp[~big].sum())
    keep = f_exp > 0
    assert stats.chisquare(f_obs[keep], f_exp[keep] * f_obs[keep].sum() / f_exp[keep].sum()).pvalue > 1e-3
    assert got[0].sample_logprob[0] == pytest.approx(math.log(want[got[0].ids[0]]), abs=1e-5)


def test_stop_strings_and_greedy(lm):
    greedy = generate(lm, "Numbers:", n=3, max_new_tokens=8, greedy=True)
    assert len({tuple(s.ids) for s in greedy}) == 1                    # greedy rows agree
    lp = next_logprobs(lm, [lm.encode("Numbers:")])[0]
    assert greedy[0].ids[0] == int(lp.argmax())
    text = generate(lm, "Numbers:", n=1, max_new_tokens=12, seed=0)[0].text
    piece = text.strip()[:2]
    stopped = generate(lm, "Numbers:", n=1, max_new_tokens=12, seed=0, stop=piece)[0]
    assert stopped.finish == "stop" and piece in stopped.text and len(stopped.ids) <= len(text)


def test_teacher_forced_equals_fresh_forwards(lm):
    ctx, cont = lm.encode("Let us play."), lm.tokenizer(" rock paper 10", add_special_tokens=False)["input_ids"]
    got = teacher_forced(lm, ctx, cont)
    for k, t in enumerate(cont):
        fresh = next_logprobs(lm, [ctx + cont[:k]])[0]
        assert got["logprob"][k] == pytest.approx(float(fresh[t]), abs=1e-4)
        p = fresh.double().exp()
        assert got["entropy_bits"][k] == pytest.approx(float(-(p * fresh.double()).sum() / math.log(2)), abs=1e-4)


def test_bad_input(lm):
    with pytest.raises(UserError, match="max-new-tokens"):
        generate(lm, "Numbers:", max_new_tokens=0)
    with pytest.raises(UserError, match="empty prompt"):
        generate(lm, "   ")
    with pytest.raises(UserError, match="temperature"):
        generate(lm, "Numbers:", temperature=0)
    with pytest.raises(UserError, match="takes at most 2048"):
        generate(lm, "Numbers:", max_new_tokens=5000)
