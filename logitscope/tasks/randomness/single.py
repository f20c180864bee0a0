"""One random answer per prompt (integers 0-10, letters a-k): exact distributions, chi-square,
entropy, over paraphrases x temperatures x top-p (West & Potts 2025, Figures 2 and 7, Tables 3,
4, 5 and 6). `integers.py` and `letters.py` give the prompts and answer spaces.

Per (paraphrase, temperature, top-p) and model: the exact answer distribution (all mass
accounted), its renormalised form, entropy in bits, the *expected* chi-square against uniform
for `samples` valid answers, a seeded sampled chi-square with its p-value, and the next-token
entropy of the first answer position. The prompts are prefilled once per model; every setting
expands its answers from that same cache.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ...errors import UserError


@dataclass(frozen=True)
class SingleTask:
    name: str
    space: str            # an answer spec: "0-10", "a-k"
    prompts: tuple        # paraphrase 0 is the study's instruction
    infix: str
    source: str           # which prompts come from the study and which are ours


def paraphrases(task: SingleTask, which) -> list[int]:
    if which in (None, "", "0"):
        return [0]
    if str(which) == "all":
        return list(range(len(task.prompts)))
    try:
        picks = [int(x) for x in str(which).split(",")]
    except ValueError:
        raise UserError(f"--paraphrase takes all, N or N,M,... (got {which!r})") from None
    bad = [p for p in picks if not 0 <= p < len(task.prompts)]
    if bad:
        raise UserError(f"paraphrase {bad[0]} does not exist; {task.name} has 0..{len(task.prompts) - 1}")
    return picks


def measure(probs: dict, valid_mass: float, samples: int, rng) -> dict:
    """The probe numbers of one exact answer distribution (`probs` renormalised). `mode` is the most
    likely answer; where several tie for it (the uniform oracle: all), None, and `mode_ties` names them."""
    from ...probes.stats import chi2_expected, chi2_log10_sf, chi2_uniform, entropy_bits, sample_counts
    p = np.array(list(probs.values()), dtype=np.float64)
    if not p.sum() > 0:
        return {"entropy_bits": None, "chi2_expected": None, "chi2_sampled": None, "p_value": None,
                "p_value_log10": None, "mode": None, "sampled_counts": None}
    counts = sample_counts(p, samples, rng)
    chi2, pv = chi2_uniform(counts)
    labels = list(probs)
    top = [a for a, x in zip(labels, p) if x >= p.max() * (1 - 1e-9)]      # the most likely answer(s)
    return {"entropy_bits": entropy_bits(p / p.sum()), "chi2_expected": chi2_expected(p, samples),
            "chi2_sampled": chi2, "p_value": pv, "p_value_log10": chi2_log10_sf(chi2, len(p) - 1),
            "mode": top[0] if len(top) == 1 else None, **({"mode_ties": top} if len(top) > 1 else {}),
            "sampled_counts": dict(zip(labels, counts.tolist()))}


def run_single(task: SingleTask, models, *, paraphrase=None, temperatures=(1.0,), top_ps=(1.0,), samples=1500,
               seed=0, out="results", infix=None, min_mass=1e-6, load=None, log=None) -> list[dict]:
    """Every (model, paraphrase, temperature, top-p) once; resumes from the result files.
    Returns one row per unit (what `--json` prints). Notes go to `log` (default: `progress.note`)."""
    from ...kernels.engine.sampling import check_settings, row_rng
    from ...kernels.engine.spaces import parse_answers
    from ...progress import bar, note, reused
    from ..results import ResultFile, append, as_lm, model_config, provenance, write_summary

    if samples < 1:
        raise UserError("--samples must be at least 1")
    for t in temperatures:
        for p in top_ps:
            check_settings(t, p)
    space = parse_answers(task.space)
    picks = paraphrases(task, paraphrase)
    infix = task.infix if infix is None else infix
    rows = []
    for spec in models:
        lm = as_lm(spec, load)
        config = {"task": task.name, "infix": infix, "space": task.space, "samples": samples, "seed": seed,
                  "min_mass": min_mass, "prompts": list(task.prompts), **model_config(lm)}
        rf = ResultFile(out, task.name, lm.spec, config)
        done = rf.done("unit")
        units = [(pi, t, p) for pi in picks for t in temperatures for p in top_ps]
        todo = [u for u in units if _key(*u) not in done]
        rf.wanted = len(units)
        t0 = time.perf_counter()
        if len(todo) < len(units):
            (log or note)(f"{lm.spec} {task.name}: {reused(len(units) - len(todo), len(units), 'settings')}"
                          + (f", {len(todo)} to compute" if todo else ""))
        if todo:
            with rf.open({"provenance": provenance(lm, seed), "source": task.source}) as fh, \
                    bar(len(todo), f"{lm.spec} {task.name}", "settings") as b:
                for rec in _compute(lm, task, space, todo, infix, samples, seed, min_mass, row_rng):
                    append(fh, [rec])
                    done[rec["unit"]] = rec
                    b.update(1)
        unit_rows = [done[_key(*u)] for u in units]
        with rf.open({}) as fh:
            write_summary(fh, {"model": lm.spec, "units": [r["unit"] for r in unit_rows],
                               "seconds": round(time.perf_counter() - t0, 1)})
        for r in unit_rows:
            rows.append({"model": lm.spec, **{k: v for k, v in r.items() if k != "type"}, "results": str(rf.path)})
    return rows


def _key(pi, t, p) -> str:
    return f"p{pi}-T{t:g}-top_p{p:g}"


def _compute(lm, task, space, todo, infix, samples, seed, min_mass, row_rng):
    """Yields one record per unit; prompts are prefilled once, settings expand from that cache."""
    from ...kernels.engine.answers import uniform_dist
    oracle = getattr(lm, "is_oracle", False)
    picks = sorted({u[0] for u in todo})
    if not oracle:
        import torch

        from ...kernels.engine.answers import expand_exact, prefill
        from ...kernels.engine.sampling import transform
        from ...probes.stats import entropy_from_logprobs_bits
        roots = {pi: prefill(lm, [lm.encode(task.prompts[pi], infix)]) for pi in picks}
    for pi, t, p in todo:
        if oracle:
            d, next_h = uniform_dist(space), None
        else:
            d = expand_exact(lm, roots[pi], space, temperature=t, top_p=p, min_mass=min_mass)[0]
            with torch.inference_mode():
                next_h = entropy_from_logprobs_bits(transform(roots[pi].logprobs[0].cpu(), t, p).numpy())
        rng = row_rng(seed, pi, int(round(t * 1000)), int(round(p * 1000)))
        probs = d.renormalised
        yield {"unit": _key(pi, t, p), "paraphrase": pi, "prompt": task.prompts[pi], "temperature": t, "top_p": p,
               "probs": probs, "answers": d.answers, "valid_mass": d.valid_mass, "invalid_mass": d.invalid_mass,
               "unexplored_mass": d.unexplored_mass, "next_token_entropy_bits": next_h, "samples": samples,
               **measure(probs, d.valid_mass, samples, rng)}
