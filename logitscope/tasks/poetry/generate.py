"""Poems for contests (West & Potts 2025, Section 4): 4-line poems on everyday topics.

For each model and topic, draws are sampled in batches through the generation kernel until
`per_model` of them parse as a poem of exactly four non-empty lines; every draw is kept with its
verdict (the poem, or why it was rejected), so attempts and reasons are reported and a rerun
resumes. With a reward model, each accepted poem gets its reward (`kernels.reward`).

Topics are the study's ten. The prompts are ours: a model in the `raw` format continues a page
of two example poems of four lines (FRAME: written for this toolkit, not the study's) and a third
announced on the topic, and stops at the first blank line after it; a draw that repeats a line of
the examples is rejected. Any other format gets the instruction below and stops at its end of turn.
Parse rates on embedded:base (seed 0, T = 1, 12 draws on each of coffee, sleep, traffic, weather, work
and internet, the same seeds each time): the announcement alone 9 of 72 (13%; 50 had fewer
than 4 lines), two unrhymed example poems 34 of 72 (47%), these two rhymed ones 42 of 72 (58%), none
repeating the examples. (Earlier, 16 draws on two topics each: "A short poem of four lines about
coffee." parsed 0 of 24, the announcement alone 5 of 24.)

A run's numbers come from its own draws: in attempt order, up to the one that gave its `per_model`-th
poem (all of them, at most `max_attempts`, when it is short), so a rerun after a larger run reports
what a fresh run would; the file's other draws are said as `drawn` and `available`.

Poem ids are `model|topic|attempt#run` (`run`: the result file's config hash): stable, and unique
across runs, so judgements and rewards name one poem of one run.
"""
from __future__ import annotations

import re
import time
import zlib
from pathlib import Path

from ...errors import UserError, check_file

TOPICS = ("Coffee", "Smartphones", "Traffic", "Weather", "Exercise", "Grocery shopping", "Sleep", "Work",
          "Internet", "Television")
CHAT = "Write a four-line poem about {topic}. Reply with the poem only: exactly four lines, no title."
FORM = "Here is a four-line poem about {topic}:\n\n"
SOURCE = "topics from West & Potts 2025; prompts and the base-model frame (two example poems) ours"
# The base-model frame: two four-line poems written for this toolkit (ours, not the study's), on topics
# that are none of the study's, so a base model sees the form it is asked for before its own poem.
FRAME = ("Here is a four-line poem about a lighthouse:\n\n"
         "The keeper climbs the stair at night,\n"
         "his lantern swinging in his hand;\n"
         "he turns the lamp to its full light\n"
         "and guides the ships safe back to land.\n\n"
         "Here is a four-line poem about an old bicycle:\n\n"
         "Its paint has faded, chain gone brown,\n"
         "it leans beside the garden gate;\n"
         "but oil it well and ride to town,\n"
         "it hums along and won't be late.\n\n")
MAX_NEW_TOKENS = 80
MAX_LINE = 120


def topic_list(specs) -> list[str]:
    """The study's ten topics, or the topics named by `specs` (one value or several): each value is a
    file with one topic a line, or a comma-separated list. A value that looks like a path (a path
    separator, or a text-file suffix such as .txt) and does not exist is "no such file", never a topic."""
    if isinstance(specs, str):
        specs = [specs]
    if not specs:
        return list(TOPICS)
    items = []
    for spec in specs:
        p = Path(spec)
        if p.is_file():
            items += p.read_text(encoding="utf-8").splitlines()
        else:
            check_file(spec, "--topic", "a topic, a comma-separated list, or a file with one topic a line")
            items += spec.split(",")
    topics = list(dict.fromkeys(t.strip() for t in items if t.strip()))
    if not topics:
        raise UserError(f"no topics in {', '.join(map(repr, specs))}")
    by_key = {t.lower(): t for t in TOPICS}
    return [by_key.get(t.lower(), t) for t in topics]


def prompt_for(fmt_name: str, topic: str) -> tuple[str, str | None]:
    """(prompt, stop string) for a model's format."""
    if fmt_name == "raw":
        return FRAME + FORM.format(topic=topic.lower()), "\n\n"
    return CHAT.format(topic=topic.lower()), None


def _title(line: str) -> bool:
    return bool(re.match(r"^(\*\*|#|title\b|\"|“)", line, re.IGNORECASE)) or \
        (len(line) < 40 and not re.search(r"[,.;:!?]$", line))


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


def _words(line: str) -> str:
    return " ".join(re.findall(r"[a-z']+", line.lower()))


FRAME_LINES = {_words(ln) for ln in FRAME.splitlines() if ln and not ln.startswith("Here is")}


def check_draw(text: str, fmt_name: str) -> tuple[list[str] | None, str | None]:
    """`parse_poem`, and for a framed (raw) model: a poem that repeats a line of the frame's examples
    is not its own."""
    lines, why = parse_poem(text)
    if lines and fmt_name == "raw" and any(_words(ln) in FRAME_LINES for ln in lines):
        return None, "repeats the frame's example"
    return lines, why


def own_draws(draws: list[dict], per_model: int, max_attempts: int) -> list[dict]:
    """A run's own draws of one topic (`draws` in attempt order): up to the one that gave its
    `per_model`-th poem, or the first `max_attempts` when it is short."""
    kept = 0
    for k, d in enumerate(draws[:max_attempts]):
        kept += d["poem"] is not None
        if kept == per_model:
            return draws[:k + 1]
    return draws[:max_attempts]


def attempt_index(topic: str, attempt: int) -> int:
    """The generator stream of one draw: a stable number per (topic, attempt)."""
    return (zlib.crc32(topic.lower().encode()) % 1_000_000) * 1_000_000 + attempt


def poem_id(model: str, topic: str, attempt: int, run: str) -> str:
    """`model|topic|attempt#run`: the run is the result file's config hash, so poems of runs with
    another seed, temperature or format never share an id; `probes.ranking.model_of` reads the model."""
    return f"{model}|{topic}|{attempt}#{run}"


def in_run(pid: str, run: str | None) -> str:
    """A poem id as its run names it; ids written before runs were part of them had no `#run`."""
    return pid.split("#")[0] + ("#" + run if run else "")


def _draws(lm, rf, known, topic, header, per_model, max_attempts, seed, temperature, bar):
    """Draw attempts for one topic until `per_model` poems parse (or `max_attempts`); `known` are
    the result file's unit records, read once per model."""
    from ...kernels.engine.generate import generate
    from ..results import append
    done = {r["attempt"]: r for r in known if r.get("kind") == "draw" and r["topic"] == topic}
    prompt, stop = prompt_for(lm.format.name, topic)
    ids = lm.encode(prompt)
    while True:
        ok = sum(r["poem"] is not None for r in done.values())
        if ok >= per_model or len(done) >= max_attempts:
            break
        start = max(done, default=-1) + 1
        n = min(max_attempts - len(done), max(2, int((per_model - ok) * 1.5) + 1))
        kept = f"{topic}: {ok} of {len(done)} draws kept"
        bar.also(kept)
        steps = [0]

        def step(live, n=n, kept=kept, steps=steps):   # the bar's text moves while draws are made
            steps[0] += 1
            bar.also(f"{kept}, drawing {n} more (token {steps[0]} of at most {MAX_NEW_TOKENS})")
        got = generate(lm, ids, indices=[attempt_index(topic, a) for a in range(start, start + n)],
                       max_new_tokens=MAX_NEW_TOKENS, temperature=temperature, seed=seed, stop=stop, on_step=step)
        recs = []
        for a, g in zip(range(start, start + n), got):
            text = g.text.split(stop)[0] if stop else g.text
            lines, why = check_draw(text, lm.format.name)
            recs.append({"unit": f"draw|{topic}|{a}", "kind": "draw", "topic": topic, "attempt": a, "text": g.text,
                         "poem": lines, "reason": why, "id": poem_id(lm.spec, topic, a, rf.hash)})
        with rf.open(header) as fh:
            append(fh, recs)
        done.update({r["attempt"]: r for r in recs})
        now = sum(r["poem"] is not None for r in done.values())
        bar.also(f"{topic}: {now} of {len(done)} draws kept")
        bar.update(min(per_model, now) - min(per_model, ok))
    return [done[a] for a in sorted(done)]


def run_generate(models, *, topics=None, per_model=20, seed=0, temperature=1.0, out="results", rm=None, load=None,
                 max_attempts=None) -> list[dict]:
    """Poems for every model and topic: `per_model` parsed poems each (`topics`: see `topic_list`)."""
    from ... import progress
    from ...kernels.engine.sampling import check_settings
    from ..creativity.open_text import check_lm
    from ..results import ResultFile, as_lm, model_config, provenance, write_summary
    check_settings(temperature, 1.0)
    if per_model < 1:
        raise UserError("--per-model must be at least 1")
    topics = topic_list(topics)
    max_attempts = max_attempts or per_model * 10
    rows = []
    for spec in models:
        lm = as_lm(spec, load)
        check_lm(lm)
        t0 = time.perf_counter()
        config = {"task": "poetry", "chat_prompt": CHAT, "form_prompt": FORM, "temperature": temperature, "seed": seed,
                  "max_new_tokens": MAX_NEW_TOKENS, **model_config(lm)}
        if lm.format.name == "raw":                      # only framed runs change with the frame
            config["base_frame"] = FRAME
        rf = ResultFile(out, "poetry", lm.spec, config)
        header = {"provenance": provenance(lm, seed), "source": SOURCE}
        known = list(rf.done("unit").values())           # locks the file, then reads it once
        have = sum(min(per_model, sum(1 for r in known if r.get("kind") == "draw" and r["topic"] == t and r["poem"]))
                   for t in topics)
        drawn = sum(1 for r in known if r.get("kind") == "draw" and r["topic"] in topics)
        if drawn:                                        # earlier draws are reused, kept poems or not
            progress.note(f"{lm.spec}: " + progress.reused(have, per_model * len(topics), "poems")
                          + f" (from {drawn} earlier draws)")
        per, ours = {}, []
        with progress.bar(per_model * len(topics), f"{lm.spec} poetry", "poems", initial=have) as bar:
            for topic in topics:
                draws = _draws(lm, rf, known, topic, header, per_model, max_attempts, seed, temperature, bar)
                mine = own_draws(draws, per_model, max_attempts)
                ours += mine
                poems = [d for d in mine if d["poem"] is not None]
                per[topic] = {"poems": len(poems), "attempts": len(mine), "rejected": _reasons(mine),
                              "available": sum(d["poem"] is not None for d in draws), "drawn": len(draws),
                              "example": "\n".join(poems[0]["poem"]) if poems else None}
        row = {"model": lm.spec, "format": lm.format.name, "per_model": per_model, "topics": per, "run": rf.hash,
               "poems": sum(p["poems"] for p in per.values()), "attempts": sum(p["attempts"] for p in per.values()),
               "rejected": _reasons(ours),
               "short": {t: per_model - p["poems"] for t, p in per.items() if p["poems"] < per_model},
               "seconds": round(time.perf_counter() - t0, 1), "results": str(rf.path)}
        if rm:
            row["rewards"] = score_poems(rf, rm, header, load,
                                         own={in_run(d["id"], rf.hash) for d in ours if d["poem"] is not None})
        with rf.open({}) as fh:
            write_summary(fh, row)
        rows.append(row)
    return rows


def _reasons(draws: list[dict]) -> dict:
    """{why rejected: how many draws}, most frequent first."""
    out: dict = {}
    for d in draws:
        if d["poem"] is None:
            out[d["reason"]] = out.get(d["reason"], 0) + 1
    return dict(sorted(out.items(), key=lambda kv: (-kv[1], kv[0])))


def score_poems(rf, rm_spec, header, load, own: set | None = None) -> dict:
    """The reward of every accepted poem of the file not yet scored by this reward model (a later run
    or contest may take more of them), and the mean per topic over the run's own poems (`own`: their
    ids, the poems of its own draws, as its summary counts them; None: every poem)."""
    from ...kernels.reward import load_reward_model, score
    from ..results import append
    rm = load_reward_model(rm_spec, **{k: v for k, v in (load or {}).items() if k not in ("fmt",)})
    units = rf.records("unit")
    have = {in_run(r["poem_id"], rf.hash): r for r in units if r.get("kind") == "reward" and r["rm"] == rm.spec}
    poems = [{**r, "id": in_run(r["id"], rf.hash)} for r in units if r.get("kind") == "draw" and r["poem"] is not None]
    todo = [p for p in poems if p["id"] not in have]
    if todo:
        got = score(rm, [(CHAT.format(topic=p["topic"].lower()), "\n".join(p["poem"])) for p in todo])
        recs = [{"unit": f"reward|{rm.spec}|{p['id']}", "kind": "reward", "rm": rm.spec, "poem_id": p["id"],
                 "topic": p["topic"], "reward": s} for p, s in zip(todo, got)]
        with rf.open(header) as fh:
            append(fh, recs)
        have.update({r["poem_id"]: r for r in recs})
    by_topic: dict = {}
    for p in sorted(poems, key=lambda p: p["attempt"]):
        if own is None or p["id"] in own:
            by_topic.setdefault(p["topic"], []).append(have[p["id"]]["reward"])
    return {"rm": rm.spec, "mean": {t: sum(v) / len(v) for t, v in by_topic.items() if v},
            "poems": {t: len(v) for t, v in by_topic.items()}}
