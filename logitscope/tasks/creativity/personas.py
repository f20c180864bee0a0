"""Customer personas (Mohammadi 2024): one persona per sample, each generated on its own (so the
samples are independent), with a review of the study's product; then how varied the personas are.

The prompts are ours (the study does not publish its wording); the product and the fields are the
study's. A model in the `raw` format gets the form framing (a survey form to complete, the way a
base model is prompted: on embedded:base it gave 2.9 parsed fields per persona against 1.8 for a
form that did not list the fields); any other format gets the chat framing (an instruction with
the answer layout).
Generation stops at EOS or where a second persona would start.
"""
from __future__ import annotations

import json
import re
import time


PRODUCT = ("A coffee machine that connects to your smartwatch so it keeps your coffee warm if you are far "
           "away from it.")
FIELDS = ("first_name", "last_name", "gender", "age", "nationality", "ethnicity", "mbti", "review")
LABELS = {"first_name": "First name", "last_name": "Last name", "gender": "Gender", "age": "Age",
          "nationality": "Nationality", "ethnicity": "Ethnicity", "mbti": "Myers-Briggs type", "review": "Review"}
FORM = ("Customer survey\n"
        f"Product: {PRODUCT}\n"
        "Each buyer filled in: First name, Last name, Gender, Age, Nationality, Ethnicity, Myers-Briggs type, "
        "Review.\n\n"
        "First name:")
CHAT = (f"Create a customer persona for this product: {PRODUCT}\n"
        "Give the persona's first name, last name, gender, age, nationality, ethnicity and Myers-Briggs type, "
        "and a review of the product written by this persona. Answer in exactly this layout:\n"
        + "\n".join(f"{LABELS[f]}: ..." for f in FIELDS))
STOP = "\nFirst name:"                      # a second persona starts
SOURCE = "product and fields from Mohammadi 2024; both prompt framings are ours"

ALIASES = {"first_name": ("first name", "firstname", "given name", "first"),
           "last_name": ("last name", "lastname", "surname", "family name", "last"),
           "gender": ("gender", "sex"), "age": ("age",), "nationality": ("nationality", "country"),
           "ethnicity": ("ethnicity", "race", "ethnic background", "ethnic group"),
           "mbti": ("myers-briggs type", "myers-briggs", "myers briggs type", "myers briggs", "mbti",
                    "mbti type", "personality type", "personality"),
           "review": ("review", "product review", "customer review")}
_KEY = {a: f for f, names in ALIASES.items() for a in names}
_LINE = re.compile(r"^\s*[-*#>\s\d.]*\**\s*([A-Za-z][A-Za-z \-()]{1,40}?)\s*\**\s*[:=]\s*(.*)$")
_HINTS = (("myers", "mbti"), ("mbti", "mbti"), ("ethnic", "ethnicity"), ("national", "nationality"),
          ("review", "review"), ("first", "first_name"), ("surname", "last_name"))


def field_of(label: str) -> str | None:
    """The field a label names ("First Name", "MBTI type", "Myers-Briggs Type Indicator (MBTI)"...)."""
    lab = re.sub(r"\(.*?\)", "", label.lower()).replace("_", " ").strip()
    if lab in _KEY:
        return _KEY[lab]
    return next((f for hint, f in _HINTS if hint in lab), None)
MBTI = re.compile(r"\b([EI][NS][TF][JP])\b", re.IGNORECASE)


def prompt_for(fmt_name: str) -> tuple[str, str]:
    """(the prompt, the text the generation continues): the form framing for `raw`, else chat."""
    return (FORM, "First name:") if fmt_name == "raw" else (CHAT, "")


def _clean(field: str, value: str):
    value = value.strip().strip("*").strip().strip('"').strip()
    if not value or value in ("...", "N/A", "n/a"):
        return None
    if field == "age":
        m = re.search(r"\d{1,3}", value)
        return int(m.group()) if m else None
    if field == "mbti":
        m = MBTI.search(value)
        return m.group(1).upper() if m else None
    if field == "review":
        return value
    value = value.splitlines()[0].strip().rstrip(".,;")
    return value[:60].title() if field in ("first_name", "last_name") else value[:60].lower()


def parse(text: str) -> dict:
    """A persona from JSON or from "Field: value" lines (any order and case; a review may run over
    several lines). Returns {"fields": {field: value}, "missing": [fields], "parsed": bool}."""
    fields = {}
    m = re.search(r"\{.*\}", text, re.DOTALL)
    if m:
        try:
            obj = json.loads(m.group())
            for k, v in obj.items() if isinstance(obj, dict) else ():
                f = field_of(str(k))
                if f and f not in fields and v is not None:
                    fields[f] = _clean(f, str(v))
        except json.JSONDecodeError:
            pass
    if not fields:
        current = None
        for line in text.splitlines():
            hit = _LINE.match(line)
            f = field_of(hit.group(1)) if hit else None
            if f:
                current = f if f not in fields else None
                if current:
                    fields[f] = hit.group(2)
            elif hit:                                  # another label ("Rating:") ends a review
                current = None
            elif current == "review" and line.strip():
                fields["review"] += "\n" + line.strip()
            elif not line.strip() and current != "review":
                current = None
        fields = {f: _clean(f, v) for f, v in fields.items()}
    fields = {f: v for f, v in fields.items() if v is not None}
    return {"fields": fields, "missing": [f for f in FIELDS if f not in fields], "parsed": bool(fields)}


def run_personas(models, *, samples=100, max_new_tokens=200, temperature=1.0, top_p=1.0, seed=0, out="results",
                 load=None, log=None) -> list[dict]:
    from ...probes.personas import summarise
    from .open_text import check_args, generated
    from ..results import write_summary

    check_args(samples=samples, max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p)
    from ...kernels.models.sentence import embed, model_path
    model_path()                                       # the extra, before any generation
    rows = []
    for spec in models:
        t0 = time.perf_counter()
        lm, rf, _, recs = generated(spec, "personas", lambda m: prompt_for(m.format.name)[0], samples=samples,
                                    max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, seed=seed,
                                    out=out, load=load, source=SOURCE, stop=STOP, config={"stop": STOP}, log=log)
        prompt, lead = prompt_for(lm.format.name)
        personas = [parse(lead + r["text"].split(STOP)[0]) for r in recs]
        reviews = [p["fields"]["review"] for p in personas if "review" in p["fields"]]
        emb = embed(reviews) if len(reviews) >= 2 else None
        row = {"model": lm.spec, "format": lm.format.name, "framing": "form" if lead else "chat", "prompt": prompt,
               "temperature": temperature, "seed": seed, **summarise(personas, emb, seed),
               "unparsed_texts": [r["text"] for r, p in zip(recs, personas) if not p["parsed"]][:5],
               "seconds": round(time.perf_counter() - t0, 1), "results": str(rf.path)}
        with rf.open({}) as fh:
            write_summary(fh, {k: v for k, v in row.items() if not k.startswith("_")})
        rows.append(row)
    return rows


def review_map(rows, path, seed=0):
    """Both models' reviews on one 2-D map (colour = model, marker = review cluster)."""
    import numpy as np

    from ...probes.diversity import map_2d
    from ...report.plots import scatter_map
    have = [r for r in rows if r.get("_review_emb") is not None]
    if not have:
        return "review map skipped: fewer than 2 reviews per model"
    xy, method = map_2d(np.concatenate([r["_review_emb"] for r in have]), seed)
    groups, start = [], 0
    for r in have:
        n = len(r["_review_emb"])
        groups.append((r["model"], xy[start:start + n], r["review_clusters"]["labels"]))
        start += n
    return scatter_map(groups, path, f"persona reviews: sentence embeddings ({method})")
