"""Reward scores for files of outputs, single pairs, and a task's answers (the one probe that runs
a model: it is thin and calls `kernels.reward`; torch is imported only there).

Input records (JSON lines) hold `prompt` + `response`, or `messages` (a list of {role, content}
ending with the assistant's turn). Each output record is the input record with `reward` and
`reward_model` added, written batch by batch in input order; a malformed line is reported with
its line number and skipped, the rest are scored. Rerunning with the same output file scores only
the lines not yet in it.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import UserError


def read_records(path: str | Path):
    """(line number, record) for good lines and (line number, reason) for malformed ones."""
    good, bad = [], []
    try:
        fh = open(path, encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from None
    with fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                bad.append((n, f"not JSON ({exc.msg})"))
                continue
            reason = _check(rec)
            if reason:
                bad.append((n, reason))
            else:
                good.append((n, rec))
    return good, bad


def _check(rec) -> str | None:
    if not isinstance(rec, dict):
        return "not a JSON object"
    if "messages" in rec:
        m = rec["messages"]
        if not isinstance(m, list) or not m or not all(isinstance(x, dict) and "role" in x and "content" in x for x in m):
            return "`messages` must be a non-empty list of {role, content}"
        return None
    if not isinstance(rec.get("prompt"), str) or not isinstance(rec.get("response"), str):
        return "needs string fields `prompt` and `response` (or `messages`)"
    return None


def _pair(rec):
    return rec["messages"] if "messages" in rec else (rec["prompt"], rec["response"])


def score_file(rm, input_path, output_path, *, batch_size=8, log=print) -> dict:
    """Score every good line of `input_path` into `output_path` (resuming); returns counts."""
    from ..kernels.reward import score
    good, bad = read_records(input_path)
    for n, reason in bad:
        log(f"{input_path}:{n}: skipped: {reason}")
    out = Path(output_path)
    done = set()
    if out.exists():
        with open(out, encoding="utf-8") as fh:
            for line in fh:
                try:
                    done.add(json.loads(line)["line"])
                except (json.JSONDecodeError, KeyError, TypeError):
                    continue            # a torn last line from a kill: that record is scored again
    todo = [(n, r) for n, r in good if n not in done]
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "a", encoding="utf-8") as fh:
        step = max(batch_size * 8, 1)
        for s in range(0, len(todo), step):
            chunk = todo[s:s + step]
            scores = score(rm, [_pair(r) for _, r in chunk], batch_size=batch_size)
            for (n, rec), sc in zip(chunk, scores):
                fh.write(json.dumps({**rec, "reward": sc, "reward_model": rm.spec, "line": n}, ensure_ascii=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
    return {"scored": len(todo), "resumed": len(good) - len(todo), "skipped": len(bad), "output": str(out)}
