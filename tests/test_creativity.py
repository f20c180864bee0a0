"""`probe entropy` and `probe attractor` on a tiny saved model: records, figures, the token HTML,
the edit rule, resuming, and one-line errors."""
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from logitscope.cli.main import main
from logitscope.errors import UserError
from logitscope.probes.tokens import by_position, entropy_summary, recovery_position, rouge_l
from logitscope.tasks.creativity.attractor import edit_summary, perturb, run_edit
from logitscope.testing import save_tiny_lm


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return str(save_tiny_lm(tmp_path_factory.mktemp("m") / "tiny", "llama", peak=2.0, seed=5))


def _json(out: str):
    return json.loads(out[out.index("["):])


def test_entropy_command_writes_records_png_and_token_html(tiny_dir, tmp_path):
    args = ["entropy", "--model", tiny_dir, "--samples", "3", "--max-new-tokens", "6", "--out", str(tmp_path), "--json"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    row = _json(r.output)[0]
    assert row["samples"] == 3 and 0 <= row["mean_top5_entropy_bits"] <= np.log2(5) + 1e-9
    recs = [json.loads(x) for x in open(row["results"]) if '"type": "unit"' in x]
    assert len(recs) == 3 and all(len(x["top5"]) == len(x["ids"]) for x in recs)
    assert max(p.stat().st_size for p in (tmp_path / "entropy").glob("*.png")) > 1000
    page = next((tmp_path / "entropy").glob("*.html")).read_text()
    assert page.count('<span class="tok"') == sum(len(x["ids"]) for x in recs)   # one element per generated token
    first = page.split('<span class="tip" role="tooltip">')[1].split("</table>")[0]
    assert first.count('<tr class="alt') == 5 + ("not in the top 5" in first)      # its top 5 (+ the sampled one)
    assert f"{recs[0]['top5'][0][0][1]:.4f}" in first
    assert "<script" not in page and "http" not in page                 # self-contained (tests/test_tokens_page.py)
    again = CliRunner().invoke(main, args)                              # resumes: same numbers, nothing new
    assert _json(again.output)[0]["mean_top5_entropy_bits"] == row["mean_top5_entropy_bits"]
    assert sum('"type": "unit"' in x for x in open(row["results"])) == 3


def test_entropy_summary_by_hand():
    recs = [{"entropy_bits": [1.0, 2.0, 3.0], "top5_entropy_bits": [0.05, 1.0, 2.0], "finish": "length"},
            {"entropy_bits": [3.0], "top5_entropy_bits": [0.0], "finish": "eos"}]
    s = entropy_summary(recs)
    assert s["tokens"] == 4 and s["mean_entropy_bits"] == pytest.approx(2.25)
    assert s["low_entropy_share"] == pytest.approx(0.5) and s["finish"] == {"length": 1, "eos": 1}
    pos = by_position([[1.0, 2.0], [3.0]])
    assert pos["mean"] == [2.0, 2.0] and pos["n"] == [2, 1]
    # the band is a percentile bootstrap of the mean: resampling [1, 3] gives means 1, 2, 3 with probability
    # 1/4, 1/2, 1/4, so its 2.5% and 97.5% points are 1 and 3 (a t-interval gave 2 -/+ 12.7, past the values)
    assert (pos["lo"][0], pos["hi"][0]) == (1.0, 3.0)
    assert pos["lo"][1] != pos["lo"][1]                                # one value at position 2: no band


def test_recovery_and_rouge():
    assert recovery_position([0.1] * 5 + [0.9] * 10, 0.5) == 1     # tokens 1..8: (4 x 0.1 + 4 x 0.9) / 8 = 0.5
    assert recovery_position([0.1] * 20, 0.5) is None
    assert rouge_l(["the cat sat", "dogs run"], "the cat sat") == pytest.approx([1.0, 0.0])


def test_edit_rule():
    text = " a computer scientist. She was born in 1906, and she was"
    cut = perturb(text, "was=>was not")
    assert cut["perturbed_prefix"] == " a computer scientist. She was not"
    assert cut["original_prefix"] == " a computer scientist. She was"
    assert cut["remainder"] == " born in 1906, and she was"
    assert perturb(" she was here. It is.", "was=>was not") is None     # only before the first sentence's end
    assert perturb("Done. Washington", "was=>was not") is None          # whole words only
    with pytest.raises(UserError, match="LEFT=>RIGHT"):
        perturb(text, "was")


def test_run_edit_exact_and_sampled(tiny_dir):
    from logitscope.kernels.models.loading import load_model
    lm = load_model(tiny_dir)
    original = {"text": " rock. You won. Move: paper 10 You lost."}
    ids = lm.encode("Round 1")
    rec = run_edit(lm, ids, original, "won=>lost", samples=3, temperature=1.0, seed=0)
    assert rec["matched"] and rec["perturbed_prefix"].endswith("You lost")
    n = rec["remainder_tokens"]
    assert len(rec["exact"]["logprob_perturbed_prefix"]) == len(rec["exact"]["logprob_original_prefix"]) == n
    by_hand = {}
    for name in ("original_prefix", "perturbed_prefix"):                 # a plain forward pass, log-softmax
        ctx = ids + lm.tokenizer(rec[name], add_special_tokens=False)["input_ids"]
        rem = lm.tokenizer(rec["remainder"], add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            lp = torch.log_softmax(lm.model(torch.tensor([ctx + rem])).logits[0].double(), -1)
        by_hand[name] = np.array([float(lp[len(ctx) - 1 + j, t]) for j, t in enumerate(rem)])
        assert rec["exact"][f"logprob_{name}"] == pytest.approx(by_hand[name], abs=1e-5)
    bits = (by_hand["perturbed_prefix"] - by_hand["original_prefix"]) / np.log(2)        # log2 ratio per token
    s = edit_summary(rec)
    assert s["attraction_bits"] == pytest.approx(bits.mean(), abs=1e-5)
    assert s["attraction_bits_first8"] == pytest.approx(bits[:8].mean(), abs=1e-5)
    assert s["attraction_bits_after8"] == (pytest.approx(bits[8:].mean(), abs=1e-5) if n > 8 else None)
    assert len(rec["regenerations"]) == len(rec["control"]) == len(rec["recovery"]) == 3
    assert s["recovered"] == sum(k is not None for k in rec["recovery"]) and s["regenerations"] == 3
    assert all(0 <= x <= 1 for x in rec["rouge_l_perturbed"] + rec["rouge_l_control"])


def _fix_original(mp):
    """The tiny model's continuation is random text: give the edit a sentence and a word to find."""
    from logitscope.kernels.engine import generate as gen
    real = gen.generate

    def fake(lm, prompt, n=1, max_new_tokens=64, **kw):
        got = real(lm, prompt, n=n, max_new_tokens=max_new_tokens, **kw)
        if n == 1 and kw.get("greedy"):
            got[0].pieces = [" rock. You won. Move:", " paper 10 You", " lost."]
        return got
    mp.setattr(gen, "generate", fake)


def test_attractor_command_units_and_page(tiny_dir, tmp_path, monkeypatch):
    """Attraction in bits per token everywhere (CLI table, summary, page); 'not recovered', never None."""
    _fix_original(monkeypatch)
    args = ["attractor", "--model", tiny_dir, "--edit", "won=>lost", "--samples", "3", "--max-new-tokens", "8",
            "--out", str(tmp_path)]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    summary = [json.loads(x) for x in open(next((tmp_path / "attractor").glob("*.jsonl"))) if '"summary"' in x][-1]
    unit = [json.loads(x) for x in open(next((tmp_path / "attractor").glob("*.jsonl"))) if '"edit:won=>lost"' in x][0]
    e = summary["edits"][0]
    diff = np.array(unit["exact"]["logprob_perturbed_prefix"]) - np.array(unit["exact"]["logprob_original_prefix"])
    assert e["attraction_bits"] == pytest.approx(diff.mean() / np.log(2))           # nats / ln 2
    assert "attraction (bits/token)" in r.output and f"{e['attraction_bits']:+.3f}" in r.output
    assert f"{e['recovered']} of 3" in r.output
    page = (tmp_path / "attractor" / "attractor.html").read_text()
    assert f"attraction {e['attraction_bits']:+.3f} bits per token" in page and "nats" not in page
    assert "None" not in page and "None" not in r.output
    ends = {"eos": "ended at end of text", "stop": "ended at the stop string", "length": "ended at the token limit"}
    for g, k in zip(unit["regenerations"], unit["recovery"]):
        back = f"recovered from token {k + 1}" if k is not None else "not recovered"
        assert f'<span class="label">regeneration {g["index"] + 1}, {ends[g["finish"]]}; {back}</span>' in page
    assert page.count('class="prompt"') == 3                          # the prompt, the perturbed and original prefixes


@pytest.mark.parametrize("args,msg", [
    (["attractor", "--edit", "zebra=>horse", "--max-new-tokens", "8", "--samples", "2"], "no edit matched"),
    (["attractor", "--edit", "zebra", "--max-new-tokens", "8"], "LEFT=>RIGHT"),
    (["entropy", "--max-new-tokens", "0"], "max-new-tokens"),
    (["entropy", "--prompt", "  "], "empty prompt"),
    (["attractor", "--prompt", ""], "empty prompt"),
    (["entropy", "--model", "uniform"], "no vocabulary"),
])
def test_bad_input_is_one_line(tiny_dir, tmp_path, args, msg):
    model = [] if "--model" in args else ["--model", tiny_dir]
    r = CliRunner().invoke(main, args + model + ["--out", str(tmp_path)])
    assert r.exit_code == 1, r.output
    assert msg in r.output and r.output.count("\n") <= 2 and "Traceback" not in r.output


def test_generation_shows_a_bar_and_notes_reused_samples(tiny_dir, tmp_path, monkeypatch):
    """Token steps done / total on a bar (progress.bar; the samples done beside them); a rerun says
    what it reused; stderr holds nothing else (a run shorter than progress.EVERY prints no line when
    stderr is not a terminal, as under CliRunner)."""
    from logitscope import progress
    bars, real = [], progress.bar

    class Bar:                                        # the real bar, with what it was told counted
        def __init__(self, total, desc, unit="it", initial=0):
            self.inner, self.total, self.unit, self.n = real(total, desc, unit, initial), total, unit, initial
            bars.append(self)

        def update(self, k):
            self.n += k
            self.inner.update(k)

        def also(self, text):
            self.inner.also(text)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.inner.close()
    monkeypatch.setattr(progress, "bar", Bar)
    args = ["entropy", "--model", tiny_dir, "--samples", "3", "--max-new-tokens", "4", "--out", str(tmp_path)]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    assert len(bars) == 1 and bars[0].total == 4 and bars[0].n == 4 and bars[0].unit == "token steps"
    assert first.stderr == ""
    again = CliRunner().invoke(main, args)
    assert again.stderr == f"{tiny_dir}: 3 of 3 samples reused\n" and len(bars) == 1
    quiet = CliRunner().invoke(main, ["--quiet", *args])
    assert quiet.exit_code == 0 and quiet.stderr == ""
    progress.set_quiet(False)
