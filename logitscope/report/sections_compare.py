"""The report's summary: `probe compare`'s verdict tables (one per pair of models and settings, the
newest run of each), with each row's difference, its 95% CI and the units behind it."""
from __future__ import annotations

from .page import Section


def _f(x, spec=".3f"):
    return "-" if x is None else format(x, spec)


def _diff(r) -> str:
    if r.get("diff") is None:
        return "-"
    ci = "" if r.get("lo") is None else f" [{r['lo']:+.3f}, {r['hi']:+.3f}]"
    return f"{r['diff']:+.3f}{ci}"


def _n(r) -> str:
    if r.get("unit") == "exact":
        return "exact"
    n = r.get("n") or ["?", "?"]
    return f"{n[0]} / {n[1]} {r.get('unit', '')}".strip()


def summary(res) -> Section | None:
    runs = [r for r in res.of("compare") if r.summary and r.summary.get("rows")]
    if not runs:
        return None
    s = Section("summary", "Summary: which model is more random (probe compare)")
    s.text("Each row: one measure for models A and B, the difference B - A with its 95% CI, and the units behind "
           "it (n for A / B). A verdict is given only where the interval excludes 0; for exact rows the interval is not a "
           "CI but bounds: the difference wherever the readouts' pruned (unexplored) mass could have gone. "
           "The same numbers appear in the sections below, in the row with the same model, settings and n.")
    for r in runs:
        m = r.summary
        a, b = m["models"]
        verdict = {"A": f"A ({a})", "B": f"B ({b})", None: "no clear difference"}
        rows = [[x["measure"], _f(x["a"]), _f(x["b"]), _diff(x), _n(x), verdict[x["more_random"]], x["note"]]
                for x in m["rows"]]
        sizes = "; ".join(f"{k}: {v}" for k, v in (m.get("sizes") or {}).items())
        s.table(["measure", "A", "B", "B - A [95% CI; exact: bounds]", "n (A / B)", "more random / less predictable", "note"], rows,
                f"A = {a}, B = {b}; {'--quick' if m.get('quick') else 'full'} sample sizes ({sizes}); seed "
                f"{m.get('seed', '?')}")
    s.provenance(runs)
    return s
