"""The view of an answer distribution (`AnswerDist.to_json()`): each answer's probability with a bar
and its share of the valid mass, the valid / invalid / unexplored mass, and (readouts traced with
`trace=True`) the token paths that carry one answer's probability.

Paths name their tokens by id; a record whose paths carry `pieces` (and whose sets carry
`example_pieces`, or `likely`: the set's most probable tokens at that step with their shares, None
where not named), as the explorer adds, shows the tokens' text instead. Bytes that are not UTF-8 on their own (a
character split across tokens) are marked `<0xE2>`, with a legend."""
from __future__ import annotations

from .common import BYTE_LEGEND, bar, esc, fragment, has_bytes, num, prob, token_html

PATHS_SHOWN = 25
PATHS_OPEN = 5          # the rest of the shown paths fold away under one line


def _method(rec: dict) -> str:
    at = f"T = {rec.get('temperature', 1.0):g}, top-p = {rec.get('top_p', 1.0):g}"
    if rec.get("exact", True) and rec.get("method") == "exact":
        return (f"exact answer probabilities at {at}: every continuation that spells the answer, summed over "
                f"every tokenisation ({rec.get('forwards', 0)} forward passes)")
    if rec.get("method") == "uniform":
        return "the uniform oracle: every answer equally likely"
    return (f'<span class="ls-approx">APPROXIMATE</span> ({esc(rec.get("method"))} readout at {at}: the first '
            "token's mass only)")


def mass_html(rec: dict) -> str:
    """The stacked valid / invalid / unexplored bar with the three numbers."""
    parts = [("valid", rec["valid_mass"]), ("invalid", rec["invalid_mass"]), ("unexplored", rec["unexplored_mass"])]
    segs = "".join(f'<span class="ls-m-{k}" style="width:{min(max(v, 0.0), 1.0) * 100:.3f}%"></span>' for k, v in parts)
    key = "".join(f'<span class="ls-swatch ls-m-{k}"></span>{k} <b class="ls-{k}" data-p="{num(v)}">{prob(v)}</b>'
                  for k, v in parts)
    return (f'<div class="ls-mass" title="valid / invalid / unexplored">{segs}</div>'
            f'<p class="ls-key">{key}</p><p class="ls-note">valid + invalid + unexplored = '
            f'{prob(sum(v for _, v in parts))}; unexplored: branches pruned below the readout\'s threshold</p>')


def answers_html(rec: dict, *, pick: bool = False, chosen: str | None = None, style: bool = True) -> str:
    """The whole view: the method line, the mass bar, one row per answer (P(answer) with a bar,
    P(answer | valid), how many token paths carry it when traced). `pick`: rows can be chosen (for
    their paths); `chosen`: the answer whose paths are shown."""
    paths = rec.get("paths") or []
    count = {}
    for p in paths:
        count[p["answer"]] = count.get(p["answer"], 0) + 1
    head = ("<tr><th>answer</th><th>P(answer)</th><th></th><th>P(answer | valid)</th>"
            + ("<th>token paths</th>" if paths else "") + "</tr>")
    rows = []
    for a, p in rec["answers"].items():
        cls = "ls-answer-row" + (" ls-pick" if pick else "") + (" ls-chosen" if a == chosen else "")
        extra = ' tabindex="0" title="show the token paths of this answer"' if pick else ""
        rows.append(f'<tr class="{cls}" data-answer="{esc(a)}" data-p="{num(p)}" data-renorm="{num(rec["renormalised"][a])}"'
                    f'{extra}><td class="ls-piece">{esc(a)}</td><td>{prob(p)}</td>'
                    f'<td class="ls-barcell">{bar(p, cls="ls-valid")}</td><td>{prob(rec["renormalised"][a])}</td>'
                    + (f"<td>{count.get(a, 0)}</td>" if paths else "") + "</tr>")
    body = (f'<div class="ls-view ls-answers" data-valid="{num(rec["valid_mass"])}" '
            f'data-invalid="{num(rec["invalid_mass"])}" data-unexplored="{num(rec["unexplored_mass"])}" '
            f'data-method="{esc(rec.get("method"))}"><p class="ls-note">{_method(rec)}</p>{mass_html(rec)}'
            f'<table class="ls-bars">{head}{"".join(rows)}</table></div>')
    return fragment(body, style)


def _share(x: float) -> str:
    return "<1%" if x < 0.005 else f"{x:.0%}"


def _chip(piece: str) -> str:
    return f"<span>{token_html(piece)}</span>"


def _tokens(path: dict) -> str:
    """A path's tokens as boxes (text where the record has it, else ids); a last step that is any token
    of a big set (every token that starts with a boundary) as one dashed box with its size and its
    likeliest members at that step where the record names them (a record without `likely`: some
    members by id)."""
    names = path.get("pieces")
    chips = [f'<span title="id {i}">{token_html(names[j]) if names else f"id {i}"}</span>'
             for j, i in enumerate(path["ids"])]
    if path.get("set"):
        st = path["set"]
        tip = "the token after the answer: any of these"
        if st.get("likely"):
            what = " (likeliest here: " + ", ".join(f'{_chip(t["piece"])} {_share(t["share"])}'
                                                   for t in st["likely"]) + ")"
            tip += "; the likeliest with their share of this step's boundary mass"
        elif "likely" in st:                      # named on the rows in view only
            what = ""
        else:
            ex = st.get("example_pieces")
            what = " (e.g. " + ", ".join([_chip(x) for x in ex[:3]] if ex else
                                         [f"id {i}" for i in st["examples"][:3]]) + ")"
        chips.append(f'<span class="ls-set" title="{tip}">any of {st["size"]:,} tokens that start with a '
                     f"boundary{what}</span>")
    return f'<span class="ls-path-toks">{"".join(chips)}</span>'


def _texts(path: dict) -> list[str]:
    st = path.get("set") or {}
    return list(path.get("pieces") or []) + [t["piece"] for t in st.get("likely") or []] + \
        list(st.get("example_pieces") or [])[:3]


def paths_html(rec: dict, answer: str, *, limit: int = PATHS_SHOWN, first: int = PATHS_OPEN, style: bool = True) -> str:
    """The token paths the exact readout found for `answer`, most probable first (the first `limit`;
    after the first `first` folded under one line that says what they carry), each with its probability
    and share of the answer's; then what the rest carry together."""
    mine = [p for p in rec.get("paths") or [] if p["answer"] == answer]
    p_answer = rec["answers"][answer]
    total = sum(p["prob"] for p in mine)
    if not rec.get("paths"):
        note = "no token paths in this record (read the answers with trace=True)"
        return fragment(f'<div class="ls-view ls-paths" data-answer="{esc(answer)}"><p class="ls-note">{note}</p></div>', style)
    def share(x):
        if p_answer <= 0:
            return "-"
        return "<0.1%" if 0 < x / p_answer < 0.0005 else f"{x / p_answer:.1%}"
    rows = [f'<tr class="ls-path" data-p="{num(p["prob"])}"><td>{r + 1}</td><td class="ls-tokens">{_tokens(p)}</td>'
            f'<td>{prob(p["prob"])}</td><td>{share(p["prob"])}</td></tr>' for r, p in enumerate(mine[:limit])]
    rest = mine[limit:]
    if rest:
        r_mass = sum(p["prob"] for p in rest)
        rows.append(f'<tr class="ls-below" data-p="{num(r_mass)}"><td></td><td>{len(rest):,} more paths</td>'
                    f"<td>{prob(r_mass)}</td><td>{share(r_mass)}</td></tr>")
    head = (f'<p class="ls-note">P({esc(answer)}) = <b>{prob(p_answer)}</b> is carried by {len(mine):,} token '
            f'paths (their sum: <b class="ls-paths-sum" data-p="{num(total)}">{prob(total)}</b>); each path is the '
            "tokens the model writes, in order; most probable first</p>")
    cols = '<colgroup><col class="ls-c-rank"><col><col class="ls-c-p"><col class="ls-c-share"></colgroup>'
    table = (f'<table class="ls-bars ls-path-table">{cols}<tr><th>#</th><th>tokens</th><th>P(path)</th><th>share</th></tr>'
             f'{"".join(rows[:first])}</table>')
    def legend(paths):                             # where shown tokens have bytes that are not text alone
        return f'<p class="ls-note">{BYTE_LEGEND}</p>' if any(has_bytes(t) for p in paths for t in _texts(p)) else ""
    top = legend(mine[:first])
    if len(rows) > first:
        folded = mine[first:]
        mass = sum(p["prob"] for p in folded)
        nxt = min(limit, len(mine)) - first
        more = "" if top else legend(mine[first:limit])
        table += (f'<details class="ls-more-paths"><summary>show the next {nxt:,} paths (the {len(folded):,} after '
                  f'the first {first} carry {prob(mass)}, {share(mass)} of P({esc(answer)}))</summary>'
                  f'<table class="ls-bars ls-path-table">{cols}{"".join(rows[first:])}</table>{more}</details>')
    table += top
    body = f'<div class="ls-view ls-paths" data-answer="{esc(answer)}" data-p="{num(p_answer)}">{head}{table}</div>'
    return fragment(body, style)


def answer_view(rec: dict) -> str:
    """A notebook's view of an `AnswerDist` record: the answers, and where the readout was traced the
    token paths of the most probable answer."""
    top = max(rec["answers"], key=rec["answers"].get) if rec.get("paths") else None
    return answers_html(rec, chosen=top) + (paths_html(rec, top, style=False) if top is not None else "")
