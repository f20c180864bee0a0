import json

import pytest
from click.testing import CliRunner

from logitscope.cli.main import main
from logitscope.errors import UserError
from logitscope.kernels.models.loading import load_model, resolve
from logitscope.kernels.models.oracle import UniformLM


def test_registry_resolves_names_to_hub_ids_and_formats():
    assert resolve("tulu3-8b-dpo") == ("hub", "tulu", "allenai/Llama-3.1-Tulu-3-8B-DPO")
    assert resolve("llama3.1-70b-instruct") == ("hub", "llama3-instruct", "meta-llama/Llama-3.1-70B-Instruct")
    assert resolve("embedded:aligned") == ("embedded", "chat", "embedded:aligned")
    assert resolve("allenai/Llama-3.1-Tulu-3-8B-RM")[1] == "tulu"


def test_typo_gets_did_you_mean():
    with pytest.raises(UserError, match="did you mean 'tulu3-8b-dpo'"):
        resolve("tulu3-8b-dpp")
    with pytest.raises(UserError, match="unknown model"):
        resolve("embedded:huge")


def test_offline_hub_miss_is_one_clear_line(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UserError) as err:
        load_model("someorg/not-a-model-xyz")
    msg = str(err.value)
    assert "someorg/not-a-model-xyz" in msg and "not in the local Hugging Face cache" in msg
    assert "\n" not in msg


def test_uniform_is_an_oracle():
    assert isinstance(load_model("uniform"), UniformLM)


def test_local_dir_loads(tmp_path, bl_tok):
    from logitscope.testing import tiny_model
    model = tiny_model("llama", len(bl_tok))
    model.save_pretrained(tmp_path)
    bl_tok.save_pretrained(tmp_path)
    lm = load_model(str(tmp_path), fmt="tulu", dtype="fp32", device="cpu")
    assert lm.format.name == "tulu" and not lm.model.training
    ids = lm.encode("rock", "Move:")
    assert lm.tokenizer.convert_ids_to_tokens(ids)[:2] == ["<|begin_of_text|>", "<|user|>"]


def test_cli_errors_are_one_line_and_nonzero():
    r = CliRunner().invoke(main, ["dist", "--model", "tulu3-8b-dpp", "--prompt", "hi"])
    assert r.exit_code == 1
    assert r.output.strip().startswith("error: unknown model") and r.output.count("\n") == 1
    r = CliRunner().invoke(main, ["dist", "--model", "uniform", "--prompt", "  "])
    assert r.exit_code == 1 and "empty prompt" in r.output


def test_cli_dist_on_uniform_json():
    r = CliRunner().invoke(main, ["dist", "--model", "uniform", "--prompt", "x", "--answers", "rps", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["answers"]["rock"] == pytest.approx(1 / 3) and out["valid_mass"] == 1.0


def test_cli_models_lists_registry():
    r = CliRunner().invoke(main, ["models", "--json"])
    names = [row["name"] for row in json.loads(r.output)]
    assert {"embedded:base", "embedded:aligned", "uniform", "tulu3-8b-rm", "qwen2.5-7b-instruct"} <= set(names)
