"""Scale: quantised answers within a pinned KL, disk/CPU device maps equal no map, `probe plan` on
the shipped 70B shape, and a two-process (gloo) determinism run equal to one process."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from logitscope.cli.main import main
from logitscope.kernels.engine.answers import answer_distributions
from logitscope.kernels.engine.forward import next_logprobs
from logitscope.kernels.models.loading import load_model
from logitscope.kernels.models.quant import parse_max_memory, weight_bytes
from logitscope.kernels.engine.session import Session
from logitscope.kernels.engine.spaces import rps
from logitscope.testing import save_tiny_lm

PROMPTS = ["Let us play rock paper scissors.", "Round 2. You won.", "Pick one: rock, paper or scissors."]
# measured on this tiny model: fp8 ~3e-7, int8 ~2e-8 (KL over answers + invalid + unexplored)
KL_BOUND = {"fp8": 1e-5, "int8": 1e-6}


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return str(save_tiny_lm(tmp_path_factory.mktemp("m") / "tiny", "llama", layers=4, hidden=64, peak=3.0, seed=2))


def _vec(d):
    return np.array(list(d.answers.values()) + [d.invalid_mass, d.unexplored_mass])


def _kl(p, q):
    return float((p * np.log(np.maximum(p, 1e-300) / np.maximum(q, 1e-300))).sum())


@pytest.mark.parametrize("kind", ["fp8", "int8"])
def test_quantised_answers_within_kl_and_smaller(tiny_dir, kind):
    ref = load_model(tiny_dir)
    q = load_model(tiny_dir, quantize=kind)
    assert q.info["quantize"] == kind and q.info["quant_kernel"] == "quanto (CPU)"
    assert type(q.model.model.layers[0].mlp.up_proj).__name__ == "QLinear"
    assert type(q.model.lm_head).__name__ == "Linear"                 # the head stays exact
    want = answer_distributions(ref, PROMPTS, "rps", infix="Move:", min_mass=1e-7)
    got = answer_distributions(q, PROMPTS, "rps", infix="Move:", min_mass=1e-7)
    kls = [_kl(_vec(a), _vec(b)) for a, b in zip(want, got)]
    assert max(kls) < KL_BOUND[kind], kls
    assert max(kls) > 0                                               # it did quantise
    assert weight_bytes(q.model) < 0.6 * weight_bytes(ref.model)     # measured 0.44


def test_fp8_on_cuda_builds_no_kernel(monkeypatch):
    """On CUDA, quanto's kernels are JIT builds (nvcc + ninja): the loader leaves its CUDA extension
    out (each quantised matmul dequantises: quanto's portable path) and says so; the environment
    variable keeps them for a machine that can build them."""
    from optimum.quanto.library.extensions import extension

    from logitscope.kernels.models.quant import quant_kernels
    monkeypatch.setitem(extension._extensions, "quanto_cuda", object())
    monkeypatch.setenv("LOGITSCOPE_QUANTO_KERNELS", "1")
    assert "built on first use" in quant_kernels(True) and "quanto_cuda" in extension._extensions
    monkeypatch.delenv("LOGITSCOPE_QUANTO_KERNELS")
    assert quant_kernels(True) == "quanto dequantise-then-matmul (no kernel build)"
    assert "quanto_cuda" not in extension._extensions
    assert quant_kernels(False) == "quanto (CPU)"


def test_disk_and_cpu_device_map_equals_no_map(tiny_dir, tmp_path):
    ref = load_model(tiny_dir)
    dm = {"model.embed_tokens": "cpu", "model.layers.0": "cpu", "model.layers.1": "disk", "model.layers.2": "disk",
          "model.layers.3": "cpu", "model.norm": "cpu", "model.rotary_emb": "cpu", "lm_head": "cpu"}
    path = tmp_path / "map.json"
    path.write_text(json.dumps(dm))
    sharded = load_model(tiny_dir, device_map=str(path), offload_folder=str(tmp_path / "off"))
    assert sharded.model.hf_device_map["model.layers.1"] == "disk"
    ids = [ref.encode(p, "Move:") for p in PROMPTS]
    assert (next_logprobs(sharded, ids) - next_logprobs(ref, ids)).abs().max() < 1e-5
    for a, b in zip(answer_distributions(ref, ids, "rps"), answer_distributions(sharded, ids, "rps")):
        assert _vec(a) == pytest.approx(_vec(b), abs=1e-6)
    s1, s2 = Session(ref, ids[0], 2), Session(sharded, ids[0], 2)
    for s in (s1, s2):
        s.append_text([" rock\nMove:", " paper paper\nMove:"])
    assert (s1.logprobs - s2.logprobs).abs().max() < 1e-5
    for a, b in zip(s1.read_answers(rps()), s2.read_answers(rps())):
        assert _vec(a) == pytest.approx(_vec(b), abs=1e-6)


def test_max_memory_and_bad_maps():
    assert parse_max_memory("0=40GiB,1=40GiB,cpu=100GiB") == {0: "40GiB", 1: "40GiB", "cpu": "100GiB"}
    r = CliRunner().invoke(main, ["dist", "--model", "uniform", "--prompt", "x", "--answers", "rps",
                                  "--device-map", "nosuch.json"])
    assert r.exit_code == 1 and "device-map" in r.output


def test_plan_on_the_shipped_70b_shape():
    r = CliRunner().invoke(main, ["plan", "llama-3.1-70b", "--quantize", "fp8", "--gpus", "4", "--gpu-memory", "48GiB",
                                  "--json"])
    assert r.exit_code == 0, r.output
    p = json.loads(r.output[r.output.index("{"):])
    assert p["weight_bytes"]["bf16"] / 1e9 == pytest.approx(141.1, abs=0.2)
    assert p["weight_bytes"]["fp8"] / 1e9 == pytest.approx(70.6, abs=0.1)
    assert p["kv_bytes_per_token_bf16"] == 80 * 8 * 128 * 2 * 2 == 320 * 1024
    assert p["fits"] and 0 < p["games_per_batch"] <= 500
    assert set(p["device_map"]) == {"0", "1", "2", "3"}
    r = CliRunner().invoke(main, ["plan", "llama-3.1-70b", "--gpus", "1", "--gpu-memory", "80GiB"])
    assert r.exit_code == 0 and "does not fit: short by" in r.output
    r = CliRunner().invoke(main, ["plan", "nosuch-model"])
    assert r.exit_code == 1 and "no config for" in r.output


def _determinism(args, env_extra=None, launcher=()):
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env_extra or {})}
    cmd = [*launcher, "-m", "logitscope.cli", "determinism", *args, "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout[out.stdout.index("["):])


def test_two_processes_merge_to_the_one_process_summary(tmp_path):
    model = str(save_tiny_lm(tmp_path / "dp", "llama", peak=3.0, seed=4))
    args = ["--model", model, "--model", "uniform", "--games", "6", "--rounds", "3", "--seed", "2"]
    one = _determinism(args + ["--out", str(tmp_path / "one")], launcher=(sys.executable,))
    two = _determinism(args + ["--out", str(tmp_path / "two")],
                       launcher=(sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"))
    shards = sorted(p.name for p in (tmp_path / "two" / "determinism-rps").glob("*.rank*.jsonl"))
    assert len(shards) == 4                                          # 2 models x 2 processes
    for a, b in zip(one, two):
        assert b["processes"] == 2
        for k in ("model", "games", "win_rate", "loss_rate", "tie_rate", "net_score"):
            assert a[k] == b[k], k
        assert a["determinism"] == pytest.approx(b["determinism"], abs=1e-6)
