"""Report section for customer personas (Mohammadi 2024)."""
from __future__ import annotations

import json
from pathlib import Path

from . import references
from .page import Section
from .sections_random import _f


def _invalid(summary: dict) -> str:
    got = summary.get("invalid")
    if got is None:
        return "not checked"                      # a summary written before values were checked
    return ", ".join(f"{f.replace('_name', '')} {n}" for f, n in got.items() if n) or "none"


def field_cell(stats: dict) -> str:
    """'1.58 (3)': entropy in bits of a field's valid values and how many distinct; 'none valid'."""
    if not stats["unique"]:
        return "none valid"
    return f"{_f(stats['entropy_bits'], '.2f')} ({stats['unique']})"


def age_cell(m: dict) -> str:
    """'34 +- 8' (mean and sd of the valid ages), '34 (one age)', or 'no ages'."""
    if m.get("age_mean") is None:
        return "no ages"
    if m.get("age_sd") is None:
        return f"{m['age_mean']:.0f} (one age)"
    return f"{m['age_mean']:.0f} +- {m['age_sd']:.0f}"


def personas(res) -> Section | None:
    sized = res.sized("personas", "samples")                 # one row per (model, settings, n)
    if not sized:
        return None
    runs = list({str(r.path): r for r, _ in sized}.values())
    s = Section("personas", "Customer personas")
    fields = ["first_name", "last_name", "gender", "age", "nationality", "ethnicity", "mbti"]
    rows = [[r.model, m["framing"], m["samples"], m["samples"] - m["unparseable"],
             f"{m.get('temperature', 1.0):g}", m.get("seed", "-"),
             *[field_cell(m["fields"][f]) for f in fields], age_cell(m), f"{m['mbti_types']} of 16",
             _f(m["vader_mean"], "+.2f"), _invalid(m)] for r, m in sized]
    s.table(["model", "framing", "n", "parsed", "T", "seed", *[f"{f.replace('_name', '')} H" for f in fields],
             "age mean +- sd", "MBTI types", "VADER", "invalid values"], rows,
            "<field> H: entropy in bits of the field's valid values (distinct values in brackets; 'none valid' "
            "where no persona gave one); invalid: values that failed their "
            "field's check (a name of letters, an age 0-120, a gender or MBTI type from its set), their text kept "
            "in the result file's summary (invalid_values)")
    references.mohammadi(s, "personas")
    caps = {"panels": "ages, gender, MBTI, review length and sentiment", "names": "first and last names",
            "reviews": "reviews on a 2-D map of their sentence embeddings"}
    for manifest in sorted((res.root / "personas").glob("*.figures.json")):      # each run's own figures
        try:
            info = json.loads(manifest.read_text())
        except (OSError, ValueError):
            continue
        who = ", ".join(f"{m} (n={n})" for m, n in zip(info["models"], info["samples"]))
        for kind, name in info.get("figures", {}).items():
            if (manifest.parent / name).exists():
                s.figure(manifest.parent / name, f"{caps.get(kind, kind)}: {who}", f"personas-{Path(name).stem}")
    s.provenance(runs)
    return s
