"""Numbers as people read them, one formatter each, used by the terminal tables, the report's tables
(HTML and markdown) and the pages that print them:
- a probability that would round to 0 at the shown precision is printed in scientific notation
  ("3.0e-07"), never as "0.000"; an exact 0 is "0" (`prob`, `pct`);
- a p-value that underflows is "< 1e-300" with its true log10 beside it, never "0" (`p_value`);
- a correlation with a constant axis is "undefined: an axis is constant", never "+nan" (`corr`, `spearman`);
- the games table's columns, units and legend (`game_cells`, GAME_HEADERS, GAME_UNITS, GAME_LEGEND)."""
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


def pct(fraction, digits: int = 2) -> str:
    """A fraction (0..1) in % with `digits` decimals, by `prob`'s rule (scientific where they show 0)."""
    return prob(None if fraction is None else fraction * 100, digits)


P_FLOOR = 1e-300        # below it a double p-value has lost its digits (subnormal) or is 0


def p_value(p, log10_p=None) -> str:
    """A p-value: 2 significant digits ("0.43", "3.1e-07"); below P_FLOOR, where the double underflows,
    "< 1e-300" and, when known, its true magnitude: "< 1e-300 (log10 p = -674.2)"; "-" for None or nan."""
    if p is None or p != p:
        return "-"
    if p < P_FLOOR:
        known = log10_p is not None and log10_p == log10_p and log10_p > float("-inf")
        return "< 1e-300" + (f" (log10 p = {log10_p:.1f})" if known else "")
    return f"{p:.2g}"


CONSTANT_AXIS = "undefined: an axis is constant"


def corr(r, spec: str = "+.2f", short: bool = False) -> str:
    """A rank or linear correlation: "+0.53"; None or nan (scipy's answer when one axis has a single
    value, e.g. the uniform oracle's equal probabilities) is CONSTANT_AXIS, not "+nan"; `short`: a table
    cell says "undefined" and a line beside the table says why."""
    if r is None or r != r:
        return "undefined" if short else CONSTANT_AXIS
    return format(r, spec)


def spearman(res: dict, unit: str) -> str:
    """One Spearman result ({"rho", "p", "n"}) as a line's end: "rho +0.53 (p 0.012, 10 poems)", or
    "undefined: an axis is constant (10 poems)"."""
    rho = res.get("rho")
    if rho is None or rho != rho:
        return f"{CONSTANT_AXIS} ({res['n']} {unit})"
    return f"rho {corr(rho)} (p {p_value(res.get('p'))}, {res['n']} {unit})"


# The games table (West & Potts 2025, Table 2 and Figure 4): `probe determinism` and the report print
# these columns from one summary through `game_cells`, so the two cannot drift apart.
GAME_HEADERS = ["net (95% CI)", "win %", "tie %", "loss %", "determinism", "after win (n)", "after tie (n)",
                "after loss (n)", "invalid %", "unexplored %", "no valid move"]
GAME_LEGEND = (   # one line each in the terminal, one caption in the report
    "win / tie / loss %: share of rounds; net: (wins - losses) / rounds x 100 per game, in [-100, 100], "
    "mean over games",
    "determinism: P(the model's most likely move), 0-1 (uniform play: 1/3 in RPS, 1/7 in hide-and-seek)",
    "after win / tie / loss (n): mean determinism of the rounds that follow a round with that outcome, "
    "over n rounds (rounds 2.. of every game)",
    "invalid %: mean probability mass per round on continuations that spell no move; unexplored %: mean "
    "mass per round pruned below --min-mass or past the answer tree's work cap and never read (what the exact "
    "readout may have missed)",
    "no valid move: rounds in which the model reached no valid move, of all rounds played; its move was "
    "drawn uniformly there, so net score and determinism there are not the model's",
)


def game_cells(m: dict, ci=None, after_n=None) -> list[str]:
    """The GAME_HEADERS cells of one determinism summary `m`; `ci` (lo, hi) overrides the summary's
    net interval, `after_n` ({outcome: rounds}) stands in for a summary written before it held
    `determinism_after_rounds`."""
    from ..probes.determinism import OUTCOMES
    lo, hi = m["net_score_ci95"] if ci is None else ci
    after = m["determinism_after"]
    counts = m.get("determinism_after_rounds") or after_n or {}

    def f(x, spec):
        return "-" if x is None or x != x else format(x, spec)

    return [f"{m['net_score']:+.1f} [{f(lo, '+.1f')}, {f(hi, '+.1f')}]",
            f(m["win_rate"], ".1f"), f(m["tie_rate"], ".1f"), f(m["loss_rate"], ".1f"), f(m["determinism"], ".3f"),
            *[f"{f(after[o], '.3f')} ({counts.get(o, '?')})" for o in OUTCOMES],
            pct(m["invalid_mass"]), pct(m["unexplored_mass"]),
            f"{m.get('no_valid_rounds', 0)} of {m['games'] * m['rounds']}"]


def mode_text(u: dict) -> str:
    """The most likely answer, or 'tie of 11' where several share the top probability (the oracle)."""
    if u.get("mode") is not None:
        return str(u["mode"])
    ties = u.get("mode_ties") or []
    return f"tie of {len(ties)}" if ties else "-"
