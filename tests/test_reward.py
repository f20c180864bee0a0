"""Reward scoring on a tiny random LlamaForSequenceClassification with the Tulu template."""
import json

import pytest
import torch
from click.testing import CliRunner

from logitscope.cli.main import main
from logitscope.kernels.reward import encode, load_reward_model, render, score, score_ids
from logitscope.tasks.randomness.reward import score_file
from logitscope.testing import tiny_reward_model

PAIRS = [("Pick a number.", "7"), ("Write a poem about coffee.", "Dark and warm,\nit wakes the morning."),
         ("Hi", "Hello there! How can I help you today? I can write, explain, or plan."), ("2+2?", "4"),
         ("Name a colour.", "Blue.")]


@pytest.fixture(scope="module", params=[False, True], ids=["pad", "pad-is-eos"])
def rm(request, tmp_path_factory):
    path = tiny_reward_model(tmp_path_factory.mktemp("rm") / "tiny-rm", pad_is_eos=request.param)
    return load_reward_model(str(path))


def _alone(rm, ids):
    """The score read by hand: the head on the last position of the unpadded row."""
    with torch.no_grad():
        h = rm.model.model(input_ids=torch.tensor([ids])).last_hidden_state[0, -1]
        return float(rm.model.score(h)[0])


def test_template_ends_with_the_eos_that_is_read(rm):
    text = render(rm, "Pick a number.", "7")
    assert text == f"<|user|>\nPick a number.\n<|assistant|>\n7{rm.tokenizer.eos_token}"
    assert encode(rm, text)[-1] == rm.tokenizer.eos_token_id


@pytest.mark.parametrize("batch_size", [1, 2, 5])
@pytest.mark.parametrize("side", ["right", "left"])
def test_batched_equals_one_by_one(rm, batch_size, side):
    rows = [encode(rm, render(rm, p, r)) for p, r in PAIRS]
    got = score_ids(rm, rows, batch_size=batch_size, padding_side=side)
    want = [_alone(rm, r) for r in rows]
    assert got == pytest.approx(want, abs=1e-5)
    assert len(set(round(x, 4) for x in got)) == len(PAIRS)      # the score depends on the text


def test_score_is_read_at_the_last_real_token(rm):
    """Same prompt, responses differing only in the last token: different scores; and the
    sequence-classification model's own pooling, which finds the last non-pad id, reads another
    position when the pad token is the EOS the template ends with."""
    a, b = score(rm, [("Q", "rock"), ("Q", "paper")])
    assert a != pytest.approx(b, abs=1e-4)
    rows = [encode(rm, render(rm, p, r)) for p, r in PAIRS[:2]]
    ours = score_ids(rm, rows, batch_size=2)
    width = max(map(len, rows))
    pad = rm.tokenizer.pad_token_id
    ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows])
    mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
    with torch.no_grad():
        hf = rm.model(input_ids=ids, attention_mask=mask).logits[:, 0].tolist()
    if pad == rm.tokenizer.eos_token_id:
        assert hf != pytest.approx(ours, abs=1e-4)
    else:
        assert hf == pytest.approx(ours, abs=1e-5)


def test_messages_and_malformed_lines(rm, tmp_path):
    src = tmp_path / "in.jsonl"
    lines = [json.dumps({"prompt": p, "response": r, "id": i}) for i, (p, r) in enumerate(PAIRS)]
    lines.insert(2, "{not json")
    lines.insert(4, json.dumps({"prompt": "no response"}))
    lines.append(json.dumps({"messages": [{"role": "user", "content": "Pick a number."},
                                          {"role": "assistant", "content": "7"}], "id": "m"}))
    src.write_text("\n".join(lines) + "\n")
    logs = []
    res = score_file(rm, src, tmp_path / "out.jsonl", batch_size=2, log=logs.append)
    assert res["scored"] == 6 and res["skipped"] == 2
    assert any(":3: skipped: not JSON" in m for m in logs) and any(":5: skipped" in m for m in logs)
    out = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [o["id"] for o in out] == [0, 1, 2, 3, 4, "m"]
    assert out[-1]["reward"] == pytest.approx(out[0]["reward"], abs=1e-5)   # same conversation, same score
    again = score_file(rm, src, tmp_path / "out.jsonl", batch_size=2, log=logs.append)
    assert again["scored"] == 0 and again["resumed"] == 6


def test_cli_end_to_end(tmp_path):
    path = tiny_reward_model(tmp_path / "rm")
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(json.dumps({"prompt": p, "response": r}) for p, r in PAIRS) + "\nbad\n")
    r = CliRunner().invoke(main, ["reward", "--rm", str(path), "--input", str(src), "--batch-size", "2"])
    assert r.exit_code == 0, r.output
    assert "scored 5" in r.output and "skipped 1" in r.output
    assert len((tmp_path / "in.rewards.jsonl").read_text().splitlines()) == 5
    one = CliRunner().invoke(main, ["reward", "--rm", str(path), "--prompt", PAIRS[0][0], "--response", PAIRS[0][1], "--json"])
    assert json.loads(one.output)["reward"] == pytest.approx(json.loads(
        (tmp_path / "in.rewards.jsonl").read_text().splitlines()[0])["reward"], abs=1e-5)
    t = CliRunner().invoke(main, ["reward", "--rm", str(path), "--task", "integers", "--model", "uniform",
                                  "--out", str(tmp_path / "res"), "--json"])
    assert t.exit_code == 0, t.output
    res = json.loads(t.output[t.output.index("{"):])
    assert list(res["rewards"]) == [str(i) for i in range(11)] and res["best"] in res["rewards"]
    assert res["models"][0]["pearson"] is None          # uniform probabilities: no correlation
    bad = CliRunner().invoke(main, ["reward", "--rm", str(path)])
    assert bad.exit_code == 1 and "give one of" in bad.output
