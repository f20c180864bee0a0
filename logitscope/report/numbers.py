"""Numbers as people read them: a probability that would round to 0 at the shown precision is
printed in scientific notation ("3.0e-07"), never as "0.000"; an exact 0 is "0". Used by the
terminal tables, the report's tables (HTML and markdown) and the pages that print probabilities."""
from __future__ import annotations


def prob(p, digits: int = 3) -> str:
    """`p` with `digits` decimals, or in scientific notation (2 significant digits) where those
    decimals would show 0; "0" for an exact 0, "-" for None or nan."""
    if p is None or p != p:
        return "-"
    if p == 0:
        return "0"
    fixed = f"{p:.{digits}f}"
    if not fixed.strip("-0."):                       # the decimals would show only zeros
        return f"{p:.1e}"
    return fixed
