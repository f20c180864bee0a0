"""Customer personas (Mohammadi 2024): one persona per sample, each generated on its own (so the
samples are independent), with a review of the study's product; then how varied the personas are.

The prompts are ours (the study does not publish its wording); the product and the fields are the
study's. A model in the `raw` format gets the form framing (a survey form to complete, the way a
base model is prompted: on embedded:base it gave 2.9 parsed fields per persona against 1.8 for a
form that did not list the fields); any other format gets the chat framing (an instruction with
the answer layout).

Generation stops at EOS; in the form framing also where a second persona would start ("\nFirst
name:", which the chat framing's own layout asks for, so a chat reply is cut only by `parse`).

Every value is checked before it counts (`validate`); what fails is counted per field and kept as
written, with the persona's index, in the summary's `invalid_values`:
- first and last name: 1-3 words of letters in any script (combining marks allowed), joined by
  single hyphens or apostrophes; no digits, emoji or other symbols. All-lower or all-upper names
  are title-cased ("li" -> "Li"), others kept as written ("McDonald").
- age: a whole number of years, 0-120 (the first number in the text; a range such as "35-44" fails).
- gender: female (female, woman, f), male (male, man, m) or non-binary (non-binary, nonbinary,
  non binary, nb, enby), case and a parenthesis aside ("Female (she/her)"); anything else counts
  as "other/invalid" in the gender shares, its text kept.
- Myers-Briggs type: exactly one of the 16 four-letter types in the text ("ENTP-A (Debater)").
- nationality, ethnicity: a short phrase (at most 6 words) of letters and ' - / , & ( ) .
- review: any non-empty text.
A blank value, "..." (the layout's placeholder) or "N/A" counts as missing, not invalid.
"""
from __future__ import annotations

import json
import re
import time
import unicodedata


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
END_LABELS = ("rating", "overall rating", "stars", "score", "note", "notes", "disclaimer", "occupation", "persona")
GENDERS = {"female": ("female", "woman", "f"), "male": ("male", "man", "m"),
           "non-binary": ("non-binary", "nonbinary", "non binary", "nb", "enby")}
_GENDER = {a: g for g, names in GENDERS.items() for a in names}
MBTI = re.compile(r"\b([EI][NS][TF][JP])\b", re.IGNORECASE)
FRAMINGS = {"form": (FORM, "First name:", STOP), "chat": (CHAT, "", None)}     # (prompt, lead, stop)


def field_of(label: str, exact: bool = False) -> str | None:
    """The field a label names ("First Name", "MBTI type", "Myers-Briggs Type Indicator (MBTI)"...);
    `exact`: only the listed names (inside a review, "First impressions:" is prose)."""
    lab = re.sub(r"\(.*?\)", "", label.lower()).replace("_", " ").strip()
    if lab in _KEY or exact:
        return _KEY.get(lab)
    return next((f for hint, f in _HINTS if hint in lab), None)


def framing_of(fmt_name: str) -> str:
    """The form framing for the `raw` format (a base model continues a survey form), else chat."""
    return "form" if fmt_name == "raw" else "chat"


def persona_text(framing: str, text: str) -> str:
    """What a persona is parsed from: the form's lead "First name:" + the continuation up to the
    stop string; a chat reply as it is."""
    _, lead, stop = FRAMINGS[framing]
    return lead + (text.split(stop)[0] if stop else text)


def _shape(text: str) -> str:
    """Each letter as L, each combining mark as M, anything else as itself."""
    return "".join("L" if unicodedata.category(c)[0] == "L" else "M" if unicodedata.category(c)[0] == "M" else c
                   for c in text)


_NAME = re.compile(r"L[LM]*(?:[-'\u2019]L[LM]*)*(?: L[LM]*(?:[-'\u2019]L[LM]*)*){0,2}")
_PHRASE = re.compile(r"[LM '\u2019\-/,&().]+")


def validate(field: str, raw: str):
    """The value `raw` gives for `field`, or None when it fails the field's check (module doc)."""
    value = unicodedata.normalize("NFC", raw.strip().strip("*").strip().strip('"').strip())
    if field == "review":
        return value or None
    value = value.splitlines()[0].strip() if value else ""
    if field == "age":
        m = re.search(r"\d+(?:[.,]\d+)?(?:\s*(?:-|\u2013|to)\s*\d+)?", value)
        return int(m.group()) if m and m.group().isdigit() and int(m.group()) <= 120 else None
    if field == "mbti":
        types = {t.upper() for t in MBTI.findall(value)}
        return types.pop() if len(types) == 1 else None
    value = value.rstrip(".,;!")
    if field == "gender":
        key = " ".join(re.sub(r"\(.*?\)", "", value).lower().split())
        return _GENDER.get(key)
    if field in ("first_name", "last_name"):
        if not _NAME.fullmatch(_shape(" ".join(value.split()))):
            return None
        value = " ".join(value.split())
        return value.title() if value.islower() or value.isupper() else value
    ok = _PHRASE.fullmatch(_shape(value)) and "L" in _shape(value) and len(value.split()) <= 6
    return value.lower() if ok else None


def _placeholder(value: str) -> bool:
    return value.strip().strip("*\"'").strip() in ("", "...", "N/A", "n/a", "NA", "-")


def parse(text: str) -> dict:
    """A persona from JSON or from "Field: value" lines (any order and case). A review may run over
    several lines, colons included, until a persona field or one of END_LABELS ("Rating:"); a field
    seen a second time ends the persona (a second one starts). Returns {"fields": {field: valid
    value}, "raw": {field: text as written}, "invalid": [fields whose text failed `validate`],
    "missing": [fields not given or left as a placeholder], "parsed": any field valid}."""
    raw = {f: v.strip() for f, v in (_json_fields(text) or _line_fields(text)).items()}
    given = [f for f in FIELDS if f in raw and not _placeholder(raw[f])]
    fields = {f: validate(f, raw[f]) for f in given}
    return {"fields": {f: v for f, v in fields.items() if v is not None},
            "raw": {f: raw[f] for f in FIELDS if f in raw},
            "invalid": [f for f in given if fields[f] is None],
            "missing": [f for f in FIELDS if f not in given],
            "parsed": any(v is not None for v in fields.values())}


def _json_fields(text: str) -> dict:
    m = re.search(r"\{.*\}", text, re.DOTALL)
    try:
        obj = json.loads(m.group()) if m else None
    except json.JSONDecodeError:
        return {}
    out = {}
    for k, v in obj.items() if isinstance(obj, dict) else ():
        f = field_of(str(k))
        if f and f not in out and v is not None:
            out[f] = str(v)
    return out


def _line_fields(text: str) -> dict:
    fields, current = {}, None
    for line in text.splitlines():
        hit = _LINE.match(line)
        in_review = current == "review"
        f = field_of(hit.group(1), exact=in_review) if hit else None
        if in_review and hit and not f and hit.group(1).strip().lower() not in END_LABELS:
            hit = None                                 # "In other words: ..." is part of the review
        if f:
            if f in fields:                            # a second persona starts
                break
            fields[f], current = hit.group(2), f
        elif hit:                                      # another label ("Rating:") ends a review
            current = None
        elif in_review and line.strip():
            fields["review"] += "\n" + line.strip()
        elif not in_review:
            current = None
    return fields


def run_personas(models, *, samples=100, max_new_tokens=200, temperature=1.0, top_p=1.0, seed=0, out="results",
                 load=None, log=None) -> list[dict]:
    from ...probes.personas import summarise
    from .open_text import check_args, check_lm, generated
    from ..results import as_lm, write_summary

    check_args(samples=samples, max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p)
    from ...kernels.models import sentence
    sentence.model_path()                              # the extra, before any generation
    rows = []
    for spec in models:
        t0 = time.perf_counter()
        lm = as_lm(spec, load)
        check_lm(lm)
        framing = framing_of(lm.format.name)
        prompt, _, stop = FRAMINGS[framing]
        lm, rf, _, recs = generated(lm, "personas", prompt, samples=samples, max_new_tokens=max_new_tokens,
                                    temperature=temperature, top_p=top_p, seed=seed, out=out, load=load,
                                    source=SOURCE, stop=stop, config={"stop": stop}, log=log)
        personas = [parse(persona_text(framing, r["text"])) for r in recs]
        reviews = [p["fields"]["review"] for p in personas if "review" in p["fields"]]
        emb = sentence.embed(reviews) if len(reviews) >= 2 else None
        row = {"model": lm.spec, "format": lm.format.name, "framing": framing, "prompt": prompt, "stop": stop,
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
