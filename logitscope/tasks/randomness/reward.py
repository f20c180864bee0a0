"""Reward-model scores (`probe reward`): files of outputs, and the reward of each of a task's answers.

`score_file`: input records (JSON lines) hold `prompt` + `response`, or `messages` (a list of
{role, content} ending with the assistant's turn). Each output record is the input record with
`reward` and `reward_model` added, written batch by batch in input order; a malformed line is
reported with its line number and skipped, the rest are scored. Rerunning with the same output
file scores only the lines not yet in it.

`task_rewards` (`--task`): the reward of each of a task's answers to its prompt (West & Potts 2025,
Table 7: Tulu-3-8B-RM rewards 7 highest among 0..10), and how each model's exact answer
probabilities correlate with it.
"""
from __future__ import annotations

import json
from pathlib import Path

from ...errors import UserError


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
    from ...kernels.reward import score
    from ...progress import bar, reused
    from ...jsonl import open_append, read_lines, write_lines
    from ..results import hold, release, track
    good, bad = read_records(input_path)
    for n, reason in bad:
        log(f"{input_path}:{n}: skipped: {reason}")
    out = Path(output_path)
    hold(out)                           # one writer: a second run on the same output stops (or --wait)
    done = set()
    if out.exists():                    # a torn last line from a kill: that record is scored again
        done = {ln.rec["line"] for ln in read_lines(out) if ln.why is None and "line" in ln.rec}
    todo = [(n, r) for n, r in good if n not in done]
    track(out, f"{rm.spec} rewards of {input_path}", "scored records", len(good))
    if len(todo) < len(good):
        log(f"{input_path}: {reused(len(good) - len(todo), len(good), 'records')}"
            + (f", {len(todo)} to score" if todo else ""))
    with open_append(out) as fh, bar(len(good), f"{rm.spec} rewards", "records", initial=len(good) - len(todo)) as b:
        step = max(batch_size * 8, 1)
        for s in range(0, len(todo), step):
            chunk = todo[s:s + step]
            scores = score(rm, [_pair(r) for _, r in chunk], batch_size=batch_size)
            write_lines(fh, [{**rec, "reward": sc, "reward_model": rm.spec, "line": n} for (n, rec), sc in zip(chunk, scores)])
            b.update(len(chunk))
    release(out)
    return {"scored": len(todo), "resumed": len(good) - len(todo), "skipped": len(bad), "output": str(out)}


def task_rewards(rm, task_name: str, models=(), *, batch_size=8, load=None, out="results") -> dict:
    """The reward of answering each of a task's answers to its prompt (paraphrase 0), and the
    correlation of reward with each model's exact answer probability (Pearson and Spearman)."""
    from scipy import stats

    from ...kernels.reward import score
    from .single import run_single
    from ..results import ResultFile, append, versions, write_summary
    task = _single_task(task_name)
    answers = _labels(task)
    config = {"task": "reward", "of": task.name, "prompt": task.prompts[0], "reward_model": rm.spec,
              "template": rm.template, "dtype": rm.info.get("dtype"), "quantize": rm.info.get("quantize")}
    rf = ResultFile(out, "reward", rm.spec, config)
    done = rf.done("answer")
    rf.wanted = len(answers)
    have = sum(a in done for a in answers)
    if have:
        from ...progress import note, reused
        note(f"{rm.spec} {task.name}: " + reused(have, len(answers), "answer rewards")
             + (f", {len(answers) - have} to score" if have < len(answers) else ""))
    if any(a not in done for a in answers):
        got = score(rm, [(task.prompts[0], a) for a in answers], batch_size=batch_size)
        with rf.open({"provenance": {"model": rm.spec, "model_info": rm.info, "versions": versions()}}) as fh:
            append(fh, [{"answer": a, "reward": r} for a, r in zip(answers, got) if a not in done])
        done = rf.done("answer")
    rewards = [done[a]["reward"] for a in answers]
    result = {"task": task.name, "prompt": task.prompts[0], "reward_model": rm.spec,
              "rewards": dict(zip(answers, rewards)), "best": answers[max(range(len(answers)), key=rewards.__getitem__)],
              "models": []}
    for spec in models:
        row = run_single(task, [spec], samples=1500, load=load, out=out)[0]
        p = [row["probs"][a] for a in answers]
        constant = constant_axis(rewards, p)
        pear = None if constant else stats.pearsonr(rewards, p)
        spear = None if constant else stats.spearmanr(rewards, p)
        result["models"].append({"model": row["model"], "probs": row["probs"], "valid_mass": row["valid_mass"],
                                 "pearson": float(pear.statistic) if pear else None,
                                 "spearman": float(spear.statistic) if spear else None,
                                 "spearman_p": float(spear.pvalue) if spear else None,
                                 **({"correlation_note": constant} if constant else {})})
    result["results"] = str(rf.path)
    with rf.open({}) as fh:
        write_summary(fh, result)
    return result


def constant_axis(rewards, probs) -> str | None:
    """Why a correlation of reward with answer probability is undefined (None where it is defined): one
    of the axes has a single value, e.g. the uniform oracle's equal probabilities (scipy would say nan)."""
    from ...probes.stats import is_constant
    from ...report.numbers import CONSTANT_AXIS
    for values, what in ((probs, "P(answer | valid)"), (rewards, "reward")):
        if is_constant(values):                                   # equal but for float noise: no order to rank
            return f"{CONSTANT_AXIS} (every answer has the same {what})"
    return None


def _single_task(name: str):
    if name == "integers":
        from .integers import TASK
    elif name == "letters":
        from .letters import TASK
    else:
        raise UserError(f"--task takes integers or letters (got {name!r})")
    return TASK


def _labels(task) -> list[str]:
    from ...kernels.engine.spaces import parse_answers
    return parse_answers(task.space).labels
