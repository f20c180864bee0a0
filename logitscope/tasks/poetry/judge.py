"""Exact model judges for poetry contests: for every pair of a contest (the same pairs people see),
the judge model's exact probability of answering "A" vs "B" (`answer_distributions`: every
tokenisation counted, invalid and unexplored mass reported), asked in both orders; the two
readings are averaged so the judge's position bias cancels, and the bias itself is reported. Its
records carry the settings that decide its numbers (model, format, dtype, min_mass, prompt), and
its judgements file is named by their hash: a judge with other settings never reuses them.

For a pair (left, right): order 1 shows left as A, order 2 shows it as B;
p1 = P(A) / (P(A) + P(B)) in order 1 (left chosen when first), p2 = P(B) / (P(A) + P(B)) in order 2
(left chosen when second); P(left wins) = (p1 + p2) / 2. The judge's P(first chosen) is p1 in order 1
and 1 - p2 in order 2; position bias = its mean over both orders and all pairs but the control
(0.5 = none; `probes.ranking.judge_bias`). A P(left wins) within `probes.ranking.UNDECIDED_TOL` of 0.5
is no decision (choice "undecided"): a judge that only prefers a position reads exactly 0.5.

The judge prompt is ours.
"""
from __future__ import annotations

import time

from ...errors import UserError
from .contest import AXES, append_judgement, check_axis, judged, judgement, judgements_path, load_poems, open_contest

PROMPT = "Here are two short poems about {topic}.\n\nPoem A:\n{a}\n\nPoem B:\n{b}\n\n{question} Answer with A or B."
INFIX = "Answer:"


def _readout(d) -> tuple[float | None, dict]:
    valid = d.answers["A"] + d.answers["B"]
    info = {"A": d.answers["A"], "B": d.answers["B"], "invalid": d.invalid_mass, "unexplored": d.unexplored_mass}
    return (d.answers["A"] / valid if valid > 0 else None), info


def judge_pairs(lm, pairs, texts, topic: str, axis: str, *, min_mass=1e-6) -> list[dict]:
    """Judgement records (annotator `judge:<model>`) for these pairs, each asked in both orders."""
    from ...kernels.engine.answers import answer_distributions
    from ...probes.ranking import side_of
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
        choice = "skip" if p_left is None else side_of(p_left) or "undecided"
        recs.append(judgement(p, choice, topic=topic, axis=axis, annotator=f"judge:{lm.spec}",
                              weight=None if p_left is None else max(p_left, 1 - p_left), p_left=p_left,
                              p_left_first=p1, p_left_second=p2, order_left_first=first, order_right_first=second,
                              source="exact-judge"))
    return recs


def judge_settings(lm, min_mass: float) -> dict:
    """What decides a judge's numbers; its hash names its judgements file, and only records with the
    same settings are reused."""
    from ..results import model_config
    return {"judge": lm.spec, **model_config(lm), "min_mass": min_mass, "prompt": PROMPT, "infix": INFIX}


def run_judge(poems_dir, judge, axis, *, topics=None, per_model=None, comparisons=60, seed=0, out="results", load=None,
              min_mass=1e-6, runs=None, log=None) -> list[dict]:
    """Judge every contest (topic) on one axis; resumes by pair (its two poems) and settings. One
    summary row per topic. `per_model` None: the most poems every model has on each topic."""
    from ... import progress
    from ...probes.ranking import control_accuracy, judge_bias, kappas
    from ..results import as_lm, config_hash, hold, release, track
    check_axis(axis)
    poems = load_poems(poems_dir, runs)
    every = not topics
    topics = topics or sorted({p["topic"] for p in poems.values()})
    lm = as_lm(judge, load)
    if getattr(lm, "is_oracle", False):
        raise UserError("the uniform oracle cannot judge; pass a model")
    settings = judge_settings(lm, min_mass)
    tag = config_hash(settings)
    who = f"judge:{lm.spec}"
    rows = []
    for topic in topics:
        t0 = time.perf_counter()
        try:
            c = open_contest(poems, topic, axis, per_model=per_model, comparisons=comparisons, seed=seed)
        except UserError as exc:
            if not every:                                   # a topic asked for by name must be judged
                raise
            progress.note(f"skipping {topic}: {exc}")
            continue
        path = judgements_path(out, c.topic, axis, who, tag)
        hold(path, out)                                     # one writer a file: a second judge stops (or --wait)
        done, _ = judged(path, c.pairs, tag)
        todo = [p for p in c.pairs if p.pair not in done]
        track(path, f"judge {lm.spec} {c.topic}/{axis}", "judgements", len(c.pairs))
        if done:
            progress.note(f"{c.topic}/{axis}: " + progress.reused(len(done), len(c.pairs), "judgements")
                          + (f", {len(todo)} to judge" if todo else ""))
        with progress.bar(len(c.pairs), f"judge {c.topic}/{axis}", "judgements", initial=len(done)) as bar:
            for s in range(0, len(todo), 8):
                for rec in judge_pairs(lm, todo[s:s + 8], c.text, c.topic, axis, min_mass=min_mass):
                    append_judgement(path, {**rec, "settings": settings, "settings_hash": tag})
                    done[rec["pair"]] = rec
                bar.update(len(todo[s:s + 8]))
        release(path)
        recs = [done[p.pair] for p in c.pairs]
        bias = (judge_bias(recs) or [{"position_bias": None, "mean_shift": None, "mean_invalid_mass": None}])[0]
        control = control_accuracy([r for r in recs if r["control"]]).get(who)
        prefix = judgements_path(out, c.topic, axis, "x").name[:-len("x.jsonl")]
        people = [j for f in path.parent.glob(f"{prefix}*.jsonl")
                  for j in judged(f, c.pairs)[0].values() if not j["annotator"].startswith("judge:")]
        agree = [k for k in kappas(recs + people) if who in (k["a"], k["b"])]
        rows.append({"judge": lm.spec, "topic": c.topic, "axis": axis, "pairs": sum(not r["control"] for r in recs),
                     "controls": sum(r["control"] for r in recs), "per_model":
                     len(c.chosen) // max(len({p["model"] for p in c.chosen.values()}), 1),
                     "agreement_with_people": agree, "position_bias": bias["position_bias"],
                     "mean_shift": bias["mean_shift"], "mean_invalid_mass": bias["mean_invalid_mass"],
                     "control_correct": None if not control or not control["controls"] else not control["flag"],
                     "control_undecided": control["undecided"] if control else 0,
                     "settings_hash": tag, "seconds": round(time.perf_counter() - t0, 1), "path": str(path)})
    if not rows:
        raise UserError("no topic has poems of every model" + (f" (--per-model {per_model})" if per_model else ""))
    return rows
