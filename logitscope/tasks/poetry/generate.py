"""Poems for contests (West & Potts 2025, Section 4): 4-line poems on everyday topics.

For each model and topic, draws are sampled in batches through the generation kernel until
`per_topic` of them parse as a poem of exactly four non-empty lines; every draw is kept with its
verdict (the poem, or why it was rejected), so attempts and reasons are reported and a rerun
resumes. With a reward model, each accepted poem gets its reward (`kernels.reward`).

Topics are the study's ten. The prompts are ours: a model in the `raw` format continues a page
that announces a poem (the base-model framing) and stops at the first blank line after it; any
other format gets the instruction below and stops at its end of turn. (On embedded:base, 16 draws
on two topics each: "A short poem of four lines about coffee." parsed 0 of 24, this one 5 of 24.)

Poem ids are `model|topic|attempt`: stable across files, so judgements can name them.
"""
from __future__ import annotations

import re
import time
import zlib
from pathlib import Path

from ...errors import UserError

TOPICS = ("Coffee", "Smartphones", "Traffic", "Weather", "Exercise", "Grocery shopping", "Sleep", "Work",
          "Internet", "Television")
CHAT = "Write a four-line poem about {topic}. Reply with the poem only: exactly four lines, no title."
FORM = "Here is a four-line poem about {topic}:\n\n"
SOURCE = "topics from West & Potts 2025; prompts ours"
MAX_NEW_TOKENS = 80
MAX_LINE = 120


def topic_list(spec: str | None) -> list[str]:
    """The study's ten topics, a comma-separated list, or a file with one topic per line."""
    if not spec:
        return list(TOPICS)
    p = Path(spec)
    items = p.read_text(encoding="utf-8").splitlines() if p.is_file() else spec.split(",")
    topics = list(dict.fromkeys(t.strip() for t in items if t.strip()))
    if not topics:
        raise UserError(f"no topics in {spec!r}")
    by_key = {t.lower(): t for t in TOPICS}
    return [by_key.get(t.lower(), t) for t in topics]


def prompt_for(fmt_name: str, topic: str) -> tuple[str, str | None]:
    """(prompt, stop string) for a model's format."""
    if fmt_name == "raw":
        return FORM.format(topic=topic.lower()), "\n\n"
    return CHAT.format(topic=topic.lower()), None


def _title(line: str) -> bool:
    return bool(re.match(r"^(\*\*|#|title\b|\"|“)", line, re.IGNORECASE)) or (len(line) < 40 and not re.search(r"[,.;:!?]$", line))


def parse_poem(text: str) -> tuple[list[str] | None, str | None]:
    """(the four lines, None) or (None, why the draw is not a 4-line poem). A fifth line that
    looks like a title (first, short, unpunctuated, or marked up) is dropped."""
    lines = [re.sub(r"^\s*(\*\*|\(?\d+[.)]\s)", "", ln).strip().strip("*").strip() for ln in text.strip().splitlines()]
    lines = [ln for ln in lines if ln]
    if not lines:
        return None, "empty"
    if len(lines) == 5 and _title(lines[0]):
        lines = lines[1:]
    if len(lines) < 4:
        return None, "fewer than 4 lines"
    if len(lines) > 4:
        return None, "more than 4 lines"
    if any(len(ln) > MAX_LINE for ln in lines):
        return None, f"a line over {MAX_LINE} characters"
    return lines, None


def attempt_index(topic: str, attempt: int) -> int:
    """The generator stream of one draw: a stable number per (topic, attempt)."""
    return (zlib.crc32(topic.lower().encode()) % 1_000_000) * 1_000_000 + attempt


def poem_id(model: str, topic: str, attempt: int) -> str:
    return f"{model}|{topic}|{attempt}"


def _draws(lm, rf, known, topic, header, per_topic, max_attempts, seed, temperature, log):
    """Draw attempts for one topic until `per_topic` poems parse (or `max_attempts`); `known` are
    the result file's unit records, read once per model."""
    from ...kernels.engine.generate import generate
    from ..results import append
    done = {r["attempt"]: r for r in known if r.get("kind") == "draw" and r["topic"] == topic}
    prompt, stop = prompt_for(lm.format.name, topic)
    ids = lm.encode(prompt)
    while True:
        ok = sum(r["poem"] is not None for r in done.values())
        if ok >= per_topic or len(done) >= max_attempts:
            break
        start = max(done, default=-1) + 1
        n = min(max_attempts - len(done), max(2, int((per_topic - ok) * 1.5) + 1))
        got = generate(lm, ids, indices=[attempt_index(topic, a) for a in range(start, start + n)],
                       max_new_tokens=MAX_NEW_TOKENS, temperature=temperature, seed=seed, stop=stop)
        recs = []
        for a, g in zip(range(start, start + n), got):
            text = g.text.split(stop)[0] if stop else g.text
            lines, why = parse_poem(text)
            recs.append({"unit": f"draw|{topic}|{a}", "kind": "draw", "topic": topic, "attempt": a, "text": g.text,
                         "poem": lines, "reason": why, "id": poem_id(lm.spec, topic, a)})
        with rf.open(header) as fh:
            append(fh, recs)
        done.update({r["attempt"]: r for r in recs})
        if log:
            log(f"{lm.spec} {topic}: {sum(r['poem'] is not None for r in done.values())}/{per_topic} poems "
                f"from {len(done)} draws")
    return [done[a] for a in sorted(done)]


def run_generate(models, *, topics=None, per_topic=20, seed=0, temperature=1.0, out="results", rm=None, load=None,
                 max_attempts=None, log=None) -> list[dict]:
    from ...kernels.engine.sampling import check_settings
    from ..creativity.open_text import check_lm
    from ..results import ResultFile, as_lm, model_config, provenance, write_summary
    check_settings(temperature, 1.0)
    if per_topic < 1:
        raise UserError("--per-topic must be at least 1")
    topics = topic_list(topics)
    max_attempts = max_attempts or per_topic * 10
    rows = []
    for spec in models:
        lm = as_lm(spec, load)
        check_lm(lm)
        t0 = time.perf_counter()
        config = {"task": "poetry", "chat_prompt": CHAT, "form_prompt": FORM, "temperature": temperature, "seed": seed,
                  "max_new_tokens": MAX_NEW_TOKENS, **model_config(lm)}
        rf = ResultFile(out, "poetry", lm.spec, config)
        header = {"provenance": provenance(lm, seed), "source": SOURCE}
        known = list(rf.done("unit").values())           # locks the file, then reads it once
        per = {}
        for topic in topics:
            draws = _draws(lm, rf, known, topic, header, per_topic, max_attempts, seed, temperature, log)
            reasons: dict = {}
            for d in draws:
                if d["poem"] is None:
                    reasons[d["reason"]] = reasons.get(d["reason"], 0) + 1
            poems = [d for d in draws if d["poem"] is not None]
            per[topic] = {"poems": len(poems), "attempts": len(draws), "rejected": reasons,
                          "example": "\n".join(poems[0]["poem"]) if poems else None}
        row = {"model": lm.spec, "format": lm.format.name, "per_topic": per_topic, "topics": per,
               "poems": sum(p["poems"] for p in per.values()), "attempts": sum(p["attempts"] for p in per.values()),
               "short": {t: per_topic - p["poems"] for t, p in per.items() if p["poems"] < per_topic},
               "seconds": round(time.perf_counter() - t0, 1), "results": str(rf.path)}
        if rm:
            row["rewards"] = score_poems(rf, rm, header, load)
        with rf.open({}) as fh:
            write_summary(fh, row)
        rows.append(row)
    return rows


def score_poems(rf, rm_spec, header, load) -> dict:
    """The reward of every accepted poem not yet scored by this reward model; mean per topic."""
    from ...kernels.reward import load_reward_model, score
    from ..results import append
    rm = load_reward_model(rm_spec, **{k: v for k, v in (load or {}).items() if k not in ("fmt",)})
    units = rf.records("unit")
    have = {r["poem_id"]: r for r in units if r.get("kind") == "reward" and r["rm"] == rm.spec}
    poems = [r for r in units if r.get("kind") == "draw" and r["poem"] is not None]
    todo = [p for p in poems if p["id"] not in have]
    if todo:
        got = score(rm, [(CHAT.format(topic=p["topic"].lower()), "\n".join(p["poem"])) for p in todo])
        recs = [{"unit": f"reward|{rm.spec}|{p['id']}", "kind": "reward", "rm": rm.spec, "poem_id": p["id"],
                 "topic": p["topic"], "reward": s} for p, s in zip(todo, got)]
        with rf.open(header) as fh:
            append(fh, recs)
        have.update({r["poem_id"]: r for r in recs})
    by_topic: dict = {}
    for r in have.values():
        by_topic.setdefault(r["topic"], []).append(r["reward"])
    return {"rm": rm.spec, "mean": {t: sum(v) / len(v) for t, v in by_topic.items()}}
