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


def personas(res) -> Section | None:
    sized = res.sized("personas", "samples")                 # one row per (model, settings, n)
    if not sized:
        return None
    runs = list({str(r.path): r for r, _ in sized}.values())
    s = Section("personas", "Customer personas")
    fields = ["first_name", "last_name", "gender", "age", "nationality", "ethnicity", "mbti"]
    rows = [[r.model, m["framing"], m["samples"], m["samples"] - m["unparseable"],
             f"{m.get('temperature', 1.0):g}", m.get("seed", "-"),
             *[f"{_f(m['fields'][f]['entropy_bits'], '.2f')} ({m['fields'][f]['unique']})"
               for f in fields], f"{m['mbti_types']}/16", _f(m["vader_mean"], "+.2f"),
             _invalid(m)] for r, m in sized]
    s.table(["model", "framing", "n", "parsed", "T", "seed", *[f.replace("_name", "") for f in fields], "MBTI types",
             "VADER",
             "invalid values"], rows,
            "entropy in bits of each field's valid values (distinct values); invalid: values that failed their "
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
