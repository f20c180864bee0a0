"""Exact model judges for poetry contests: for every pair of a contest (the same pairs people see),
the judge model's exact probability of answering "A" vs "B" (`answer_distributions`: every
tokenisation counted, invalid and unexplored mass reported), asked in both orders; the two
readings are averaged so the judge's position bias cancels, and the bias itself is reported.

For a pair (left, right): order 1 shows left as A, order 2 shows it as B;
p1 = P(A) / (P(A) + P(B)) in order 1 (left chosen when first), p2 = P(B) / (P(A) + P(B)) in order 2
(left chosen when second); P(left wins) = (p1 + p2) / 2. The judge's P(first chosen) is p1 in order 1
and 1 - p2 in order 2; position bias = its mean over both orders and all pairs (0.5 = none).

The judge prompt is ours.
"""
from __future__ import annotations

import time

from ...errors import UserError
from ...probes.ranking import read_judgements
from .contest import AXES, CONTROL, append_judgement, contest_poems, judgement, judgements_path, load_poems, \
    schedule

PROMPT = "Here are two short poems about {topic}.\n\nPoem A:\n{a}\n\nPoem B:\n{b}\n\n{question} Answer with A or B."
INFIX = "Answer:"


def _readout(d) -> tuple[float | None, dict]:
    valid = d.answers["A"] + d.answers["B"]
    info = {"A": d.answers["A"], "B": d.answers["B"], "invalid": d.invalid_mass, "unexplored": d.unexplored_mass}
    return (d.answers["A"] / valid if valid > 0 else None), info


def judge_pairs(lm, pairs, texts, topic: str, axis: str, *, min_mass=1e-6) -> list[dict]:
    """Judgement records (annotator `judge:<model>`) for these pairs, each asked in both orders."""
    from ...kernels.engine.answers import answer_distributions
    space = {"A": ["A"], "B": ["B"]}
    prompts = []
    for p in pairs:
        x, y = texts(p.left), texts(p.right)
        prompts += [PROMPT.format(topic=topic.lower(), a=x, b=y, question=AXES[axis]),
                    PROMPT.format(topic=topic.lower(), a=y, b=x, question=AXES[axis])]
    dists = answer_distributions(lm, prompts, space, infix=INFIX, min_mass=min_mass)
    recs = []
    for k, p in enumerate(pairs):
        a_first, first = _readout(dists[2 * k])        # P(A) with left first
        a_second, second = _readout(dists[2 * k + 1])  # P(A) with right first
        p1 = a_first
        p2 = None if a_second is None else 1.0 - a_second
        got = [x for x in (p1, p2) if x is not None]
        p_left = sum(got) / len(got) if got else None
        choice = "skip" if p_left is None else ("left" if p_left >= 0.5 else "right")
        recs.append(judgement(p, choice, topic=topic, axis=axis, annotator=f"judge:{lm.spec}",
                              weight=None if p_left is None else max(p_left, 1 - p_left), p_left=p_left,
                              p_left_first=p1, p_left_second=p2, order_left_first=first, order_right_first=second,
                              source="exact-judge"))
    return recs


def run_judge(poems_dir, judge, axis, *, topics=None, per_model=5, comparisons=60, seed=0, out="results", load=None,
              min_mass=1e-6, log=None) -> list[dict]:
    """Judge every contest (topic) on one axis; resumes per pair. One summary row per topic."""
    from ..results import as_lm
    if axis not in AXES:
        raise UserError(f"unknown axis '{axis}'; choose {', '.join(AXES)}")
    poems = load_poems(poems_dir)
    every = not topics
    topics = topics or sorted({p["topic"] for p in poems.values()})
    lm = as_lm(judge, load)
    if getattr(lm, "is_oracle", False):
        raise UserError("the uniform oracle cannot judge; pass a model")
    rows = []
    for topic in topics:
        t0 = time.perf_counter()
        try:
            chosen = contest_poems(poems, topic, per_model)
        except UserError as exc:
            if not every:                                   # a topic asked for by name must be judged
                raise
            if log:
                log(f"skipping {topic}: {exc}")
            continue
        topic = next(iter(chosen.values()))["topic"]          # the poems' own spelling
        pairs, bag = schedule(chosen, topic, axis, comparisons, seed)
        path = judgements_path(out, topic, axis, f"judge:{lm.spec}")
        done = {r["pair"]: r for r in read_judgements([path])[0]} if path.exists() else {}
        todo = [p for p in pairs if p.pair not in done]

        def texts(pid):
            return "\n".join(bag) if pid == CONTROL else "\n".join(chosen[pid]["lines"])
        for s in range(0, len(todo), 8):
            for rec in judge_pairs(lm, todo[s:s + 8], texts, topic, axis, min_mass=min_mass):
                append_judgement(path, rec)
                done[rec["pair"]] = rec
            if log:
                log(f"judge {lm.spec} {topic}/{axis}: {len(done)}/{len(pairs)} pairs")
        recs = [done[p.pair] for p in pairs]
        firsts = [x for r in recs for x in ((r["p_left_first"],) if r["p_left_first"] is not None else ())]
        firsts += [1 - r["p_left_second"] for r in recs if r["p_left_second"] is not None]
        shifts = [r["p_left_first"] - r["p_left_second"] for r in recs
                  if r["p_left_first"] is not None and r["p_left_second"] is not None]
        invalid = [o["invalid"] for r in recs for o in (r["order_left_first"], r["order_right_first"])]
        control = [r for r in recs if r["control"]]
        prefix = judgements_path(out, topic, axis, "x").name[:-len("x.jsonl")]
        people = [j for f in path.parent.glob(f"{prefix}*.jsonl") if f != path
                  for j in read_judgements([f])[0] if j.get("topic", "").lower() == topic.lower() and j["axis"] == axis]
        from ...probes.ranking import kappas
        agree = [k for k in kappas(recs + people) if f"judge:{lm.spec}" in (k["a"], k["b"])]
        rows.append({"judge": lm.spec, "topic": topic, "axis": axis, "pairs": len(recs), "agreement_with_people": agree,
                     "position_bias": sum(firsts) / len(firsts) if firsts else None,
                     "mean_shift": sum(shifts) / len(shifts) if shifts else None,
                     "mean_invalid_mass": sum(invalid) / len(invalid),
                     "control_correct": all(r["correct"] for r in control) if control else None,
                     "seconds": round(time.perf_counter() - t0, 1), "path": str(path)})
    if not rows:
        raise UserError(f"no topic has --per-model {per_model} poems of every model; lower --per-model")
    return rows
