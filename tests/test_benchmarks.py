"""benchmarks/gpu.sh: the one GPU run, checked on the CPU with tiny shapes (SMOKE=1 DEVICE=cpu).

The slow test runs every part (the SmolLM2 tokenizer comes from the converted embedded:aligned, or
benchmarks/.cache/ when prepare_cache.py has exported it) and reads the one JSON the GPU run would
write; the fast ones check how a part that did not run, timed out or wrote nothing is recorded."""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PARTS = ["step-1.7b", "step-8b", "compiled-1.7b", "det-1.7b", "det-8b", "quant-8b", "session-1.7b", "answers-1.7b", "reward-8b",
         "generate-1.7b"]
# figure -> fields that must be positive numbers
EXPECTED = {
    "decode_step/smollm2-1.7b": ["wall_ms_per_step", "peak_rss_mib"],
    "decode_step/llama-3.1-8b": ["wall_ms_per_step", "peak_rss_mib"],
    "generate/smollm2-1.7b": ["seconds", "tokens", "tokens_per_s", "peak_rss_mib"],
    "hf/smollm2-1.7b": ["seconds", "tokens", "tokens_per_s", "peak_rss_mib"],
    "hf_cudnn_off/smollm2-1.7b": ["seconds", "tokens", "tokens_per_s"],
    "generate_vs_hf/smollm2-1.7b": ["wall_ratio_hf_over_ours", "wall_ratio_hf_cudnn_off_over_ours"],
    "generate/llama-3.1-8b": ["seconds", "tokens"],
    "decode_step_compiled/smollm2-1.7b": ["compile_seconds", "wall_ms_per_step", "slots"],
    "generate_compiled/smollm2-1.7b": ["seconds", "tokens", "tokens_per_s", "warmup_seconds_with_compile"],
    "hf_beside_compiled/smollm2-1.7b": ["seconds", "tokens"],
    "generate_compiled_vs_hf/smollm2-1.7b": ["wall_ratio_hf_over_ours", "tokens_per_s_ratio"],
    "hf/llama-3.1-8b": ["seconds", "tokens"],
    "generate_vs_hf/llama-3.1-8b": ["wall_ratio_hf_over_ours", "tokens_per_s_ratio"],
    "determinism_vs_naive/smollm2-1.7b": ["seconds", "naive_seconds_scaled", "speedup", "peak_rss_mib",
                                          "plan_predicted_mib", "plan_kv_mib_per_game"],
    "determinism_vs_naive/llama-3.1-8b": ["seconds", "naive_seconds_scaled", "speedup", "plan_predicted_mib"],
    "quant/llama-3.1-8b/bf16": ["weights_mib", "forward_ms", "decode_step_ms", "readout_ms"],
    "quant/llama-3.1-8b/fp8": ["weights_mib", "forward_ms", "decode_step_ms", "readout_ms", "next_token_kl_bits_max"],
    "quant/llama-3.1-8b/int8": ["weights_mib", "forward_ms", "decode_step_ms", "readout_ms", "next_token_kl_bits_max"],
    "session_vs_naive/smollm2-1.7b/uniform": ["session_seconds", "naive_seconds_scaled", "peak_tflops",
                                              "session_tokens", "naive_tokens"],
    "answers_exact_vs_sampling/smollm2-1.7b": ["exact_seconds", "generate_seconds", "harness_seconds"],
    "reward_batched_vs_one_by_one/tulu-3-8b-rm": ["batched_seconds", "one_by_one_seconds_scaled", "speedup"],
    "generate_process/smollm2-1.7b/hf": ["seconds", "tokens"],
    "generate_process/smollm2-1.7b/logitscope": ["seconds", "tokens"],
    "generate_process_ratio/smollm2-1.7b": ["wall_ratio_hf_over_ours"],
}


def run_gpu_sh(out: Path, **env) -> subprocess.CompletedProcess:
    env = {**os.environ, "SMOKE": "1", "DEVICE": "cpu", "OUT": str(out), "PYTHON": sys.executable, **env}
    return subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu.sh")], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.mark.slow
def test_smoke_run_writes_every_figure_in_one_json(tmp_path):
    done = run_gpu_sh(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    path = tmp_path / "gpu.json"
    assert f"wrote {path.resolve()}" in done.stdout
    doc = json.loads(path.read_text())
    assert doc["failed"] == [] and doc["skipped"] == []
    assert doc["card"].startswith("cpu") and doc["device"] == "cpu" and doc["smoke"] is True
    import torch
    assert doc["torch"] == torch.__version__
    assert sorted({r["part"] for r in doc["results"]}) == sorted(PARTS)
    figs = doc["figures"]
    assert set(EXPECTED) <= set(figs), set(EXPECTED) - set(figs)
    for name, fields in EXPECTED.items():
        for f in fields:
            v = figs[name][f]
            assert isinstance(v, (int, float)) and math.isfinite(v) and v > 0, (name, f, v)
    # the same seeded games both ways: the naive loop plays what run_model played
    for shape in ("smollm2-1.7b", "llama-3.1-8b"):
        d = figs[f"determinism_vs_naive/{shape}"]
        assert d["identical_games"] == d["naive_games_timed"] and d["max_prob_diff"] < 1e-4
        assert d["answer_mass_target"] == 0.9 and d["answer_bias_nats"] > 0     # random weights steered to answer
    # quantisation: bf16 is the reference (KL 0 to itself); bf16 weights are 2 bytes per parameter
    # (rotary frequencies are not saved); 8-bit linear weights hold less than bf16's
    q = {s: figs[f"quant/llama-3.1-8b/{s}"] for s in ("bf16", "fp8", "int8")}
    assert all(r["reference"] == "bf16" for r in q.values())
    assert q["fp8"]["answer_bias_nats"] == q["int8"]["answer_bias_nats"] == q["bf16"]["answer_bias_nats"] > 0
    assert q["bf16"]["answer_kl_bits_max"] == 0 and q["bf16"]["next_token_kl_bits_max"] == 0
    assert q["bf16"]["weights_mib"] == pytest.approx(q["bf16"]["params"] * 2 / 2 ** 20)
    assert q["fp8"]["weights_mib"] < q["bf16"]["weights_mib"] and q["int8"]["weights_mib"] < q["bf16"]["weights_mib"]
    assert q["fp8"]["quant_kernel"] == q["int8"]["quant_kernel"] == "quanto (CPU)"
    # ours and HF generate from the same model: HF stops at the same ids, so both generate rows x new
    # tokens here unless a row ends early
    g, h = figs["generate/smollm2-1.7b"], figs["hf/smollm2-1.7b"]
    assert g["tokens"] <= g["rows"] * g["new_tokens"] and h["tokens"] <= h["rows"] * h["new_tokens"]


def test_parts_left_out_for_time_are_failures_with_reasons(tmp_path):
    """BUDGET=0: no part starts; each is in "failed" saying so, and gpu.sh exits non-zero."""
    done = run_gpu_sh(tmp_path, BUDGET="0")
    assert done.returncode == 1, done.stdout + done.stderr
    doc = json.loads((tmp_path / "gpu.json").read_text())
    assert sorted(f["part"] for f in doc["failed"]) == sorted(PARTS)
    assert all(f["reason"] == "not started: the time budget was spent" for f in doc["failed"])
    assert doc["results"] == []


def test_timed_out_empty_and_skipped_parts_are_recorded(tmp_path):
    """collect.py: a timed-out part keeps the lines it wrote and is failed with its log's tail; a part
    that exited 0 without a result is failed; an extra left out and a row a benchmark skipped are
    'skipped'."""
    (tmp_path / "parts").mkdir()
    (tmp_path / "logs").mkdir()
    (tmp_path / "parts.tsv").write_text("a\tcore\t124\t90\t90\nb\tcore\t0\t5\t90\nc\textra\tskip\t0\t0\n"
                                        "d\tcore\t0\t7\t90\n")
    (tmp_path / "parts" / "a.jsonl").write_text(json.dumps({"bench": "decode_step", "model": "random:x", "v": 1}) + "\n")
    (tmp_path / "logs" / "a.log").write_text("line 1\nKilled at step 3\n")
    (tmp_path / "parts" / "d.jsonl").write_text(
        json.dumps({"bench": "quant", "setting": "fp8", "skipped": "optimum-quanto is not importable"}) + "\n"
        + json.dumps({"bench": "quant", "model": "random:x", "setting": "bf16", "v": 2}) + "\n")
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "collect.py"), str(tmp_path), "--device", "cpu"],
                          capture_output=True, text=True)
    assert done.returncode == 1, done.stderr
    doc = json.loads((tmp_path / "gpu.json").read_text())
    failed = {f["part"]: f for f in doc["failed"]}
    assert sorted(failed) == ["a", "b"]
    assert failed["a"]["reason"] == "timed out after 90 s" and failed["a"]["results_kept"] == 1
    assert failed["a"]["log_tail"].endswith("Killed at step 3")
    assert failed["b"]["reason"] == "wrote no result"
    assert [s["part"] for s in doc["skipped"]] == ["c", "d"]
    assert sorted(doc["figures"]) == ["decode_step/x", "quant/x/bf16"]
    assert doc["figures"]["quant/x/bf16"] == {"setting": "bf16", "v": 2}


def test_device_time_counts_each_kernel_once():
    """The profiler's device total: the CUDA events only (a CPU op's self device time is its own
    kernels seen from the host side; torch's table sums the CUDA events alone); ms."""
    from types import SimpleNamespace as E
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from common import device_time_ms
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    cpu, cuda = "DeviceType.CPU", "DeviceType.CUDA"
    events = [E(key="aten::mm", device_type=cpu, self_device_time_total=300.0, is_user_annotation=False),
              E(key="sm90_gemm", device_type=cuda, self_device_time_total=300.0, is_user_annotation=False),
              E(key="aten::softmax", device_type=cpu, self_device_time_total=50.0, is_user_annotation=False),
              E(key="softmax_kernel", device_type=cuda, self_device_time_total=50.0, is_user_annotation=False),
              E(key="step", device_type=cuda, self_device_time_total=400.0, is_user_annotation=True)]
    assert device_time_ms(E(key_averages=lambda: events)) == 0.35
    assert device_time_ms(E(key_averages=lambda: events[:1])) is None
