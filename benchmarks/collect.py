"""Gather one `gpu.sh` run into one JSON: OUT/gpu.json = {"card", "torch", ..., "figures", "results",
"failed", "skipped"} from OUT/parts.tsv (name, kind, exit status, seconds, limit per part),
OUT/parts/NAME.jsonl (each part's JSON lines) and OUT/logs/NAME.log.

- results: every JSON line, with "part": NAME;
- figures: the same records keyed "bench/shape[/setting|moves|method]", without the fields that
  only say where they ran (those are in the header once);
- failed: a part that exited non-zero (124/137: timed out), wrote no result, or was not started
  for lack of time (core parts), with its log's last lines; skipped: extras left out for time and
  rows a benchmark skipped itself (e.g. no optimum-quanto).

    python benchmarks/collect.py OUT [--device cuda] [--smoke 0] [--budget 480] [--seconds N]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
from pathlib import Path

WHERE = {"bench", "model", "device", "device_name", "torch", "dtype", "quantize", "overrides", "part"}


def header(device: str) -> dict:
    import torch
    import transformers
    cuda = device.startswith("cuda") and torch.cuda.is_available()
    try:
        import optimum.quanto as quanto
        q = str(Path(quanto.__file__).parent)
    except ImportError:
        q = None
    return {"card": torch.cuda.get_device_name(0) if cuda else f"cpu ({platform.processor() or platform.machine()})",
            "device": device, "torch": torch.__version__, "cuda": torch.version.cuda, "transformers": transformers.__version__,
            "python": platform.python_version(), "optimum_quanto": q,
            "cuda_alloc_conf": os.environ.get("PYTORCH_CUDA_ALLOC_CONF"),
            "toolchain": {"nvcc": shutil.which("nvcc"), "ninja": shutil.which("ninja")}}


def key(rec: dict) -> str:
    shape = str(rec.get("model", "?")).split(":", 1)[-1]
    extra = rec.get("setting") or rec.get("moves") or rec.get("method")
    return "/".join([rec["bench"], shape] + ([str(extra)] if extra else []))


def tail(path: Path, lines: int = 25) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.is_file() else ""


def gather(out: Path) -> tuple[list, list, list]:
    results, failed, skipped = [], [], []
    rows = [ln.split("\t") for ln in (out / "parts.tsv").read_text().splitlines() if ln.strip()] \
        if (out / "parts.tsv").is_file() else []
    for name, kind, rc, seconds, limit in rows:
        if rc == "skip":
            skipped.append({"part": name, "reason": "extra left out: too little of the time budget left"})
            continue
        f = out / "parts" / f"{name}.jsonl"
        recs = [json.loads(x) for x in f.read_text().splitlines() if x.strip()] if f.is_file() else []
        for r in recs:
            r["part"] = name
            (skipped if "skipped" in r else results).append(r)
        reason = None
        if rc == "budget":
            reason = "not started: the time budget was spent"
        elif rc in ("124", "137"):
            reason = f"timed out after {limit} s"
        elif rc != "0":
            reason = f"exit status {rc}"
        elif not any("skipped" not in r for r in recs):
            reason = "wrote no result"
        if reason:
            failed.append({"part": name, "kind": kind, "reason": reason, "rc": rc, "seconds": int(seconds),
                           "limit_s": int(limit), "results_kept": len(recs), "log_tail": tail(out / "logs" / f"{name}.log")})
    return results, failed, skipped


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--smoke", default="0")
    ap.add_argument("--budget", type=int, default=None)
    ap.add_argument("--seconds", type=int, default=None)
    a = ap.parse_args()
    out = Path(a.out)
    results, failed, skipped = gather(out)
    doc = {**header(a.device), "smoke": a.smoke == "1", "budget_s": a.budget, "seconds": a.seconds,
           "figures": {key(r): {k: v for k, v in r.items() if k not in WHERE} for r in results},
           "results": results, "failed": failed, "skipped": skipped}
    path = out / "gpu.json"
    path.write_text(json.dumps(doc, indent=1, allow_nan=False) + "\n")
    print(f"{len(results)} results, {len(failed)} failed ({', '.join(f['part'] for f in failed) or 'none'}), "
          f"{len(skipped)} skipped; {a.seconds} s")
    print(f"wrote {path.resolve()}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
