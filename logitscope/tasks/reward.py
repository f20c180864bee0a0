"""`probe reward --task`: the reward of each of a task's answers to its prompt (West & Potts 2025,
Table 7: Tulu-3-8B-RM rewards 7 highest among 0..10), and how each model's exact answer
probabilities correlate with it."""
from __future__ import annotations

from ..errors import UserError


def task_rewards(rm, task_name: str, models=(), *, batch_size=8, load=None, out="results") -> dict:
    """The reward of answering each of a task's answers to its prompt (paraphrase 0), and the
    correlation of reward with each model's exact answer probability (Pearson and Spearman)."""
    from scipy import stats

    from ..kernels.reward import score
    from .single import run_single
    from .results import ResultFile, append, versions, write_summary
    task = _single_task(task_name)
    answers = _labels(task)
    config = {"task": "reward", "of": task.name, "prompt": task.prompts[0], "reward_model": rm.spec,
              "template": rm.template, "dtype": rm.info.get("dtype"), "quantize": rm.info.get("quantize")}
    rf = ResultFile(out, "reward", rm.spec, config)
    done = rf.done("answer")
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
        pear = stats.pearsonr(rewards, p) if len(set(p)) > 1 else None
        spear = stats.spearmanr(rewards, p) if len(set(p)) > 1 else None
        result["models"].append({"model": row["model"], "probs": row["probs"], "valid_mass": row["valid_mass"],
                                 "pearson": float(pear.statistic) if pear else None,
                                 "spearman": float(spear.statistic) if spear else None})
    result["results"] = str(rf.path)
    with rf.open({}) as fh:
        write_summary(fh, result)
    return result


def _single_task(name: str):
    if name == "integers":
        from .integers import TASK
    elif name == "letters":
        from .letters import TASK
    else:
        raise UserError(f"--task takes integers or letters (got {name!r})")
    return TASK


def _labels(task) -> list[str]:
    from ..kernels.spaces import parse_answers
    return parse_answers(task.space).labels
