"""The view of a next-token distribution (`NextToken.to_json()`): the prompt as the model reads it,
one box per token, then the top tokens with probability bars, entropies and the mass below them."""
from __future__ import annotations

from .common import BYTE_LEGEND, BYTES, bar, bits, esc, fragment, has_bytes, num, prob, shown, token_html, \
    visible_html


def _marked(piece: str) -> str:
    """Running-text view of a token with its bytes that are not text alone marked."""
    return BYTES.sub(lambda m: f'<span class="ls-byte">{m.group(0)}</span>', visible_html(piece))


def prompt_html(rec: dict, branch: int = 0) -> str:
    """The formatted prompt, one bordered box per token (its id on hover); the last `branch` tokens
    (those a person appended by choosing them) marked."""
    ids, pieces = rec["ids"], rec["pieces"]
    special = rec.get("special") or [False] * len(ids)
    first_branch = len(ids) - branch
    boxes = []
    for j, (i, piece, sp) in enumerate(zip(ids, pieces, special)):
        cls = "ls-ptok" + (" ls-special" if sp else "") + (" ls-branch" if j >= first_branch else "")
        boxes.append(f'<span class="{cls}" data-id="{i}" title="token {j + 1}: id {i}">{_marked(piece)}</span>')
    what = f"{rec['format']} format" + (f", infix {shown(rec['infix'])}" if rec.get("infix") else "")
    label = (f"prompt as the model reads it ({what}; {len(ids)} tokens, one box each"
             + (f"; the last {branch} chosen by you" if branch else "") + ")")
    return f'<div class="ls-prompt"><span class="ls-label">{esc(label)}</span>{"".join(boxes)}</div>'


def settings(rec: dict) -> str:
    return f"T = {rec['temperature']:g}, top-p = {rec['top_p']:g}"


def stats_html(rec: dict) -> str:
    transformed = rec["temperature"] != 1.0 or rec["top_p"] != 1.0
    model = (f'<br>the model itself (T = 1, top-p = 1): entropy <b class="ls-model-entropy">'
             f'{bits(rec["model_entropy_bits"])}</b> bits') if transformed else ""
    return (f'<p class="ls-stats">next token at {settings(rec)}: entropy <b class="ls-entropy">'
            f'{bits(rec["entropy_bits"])}</b> bits (full vocabulary), top-5 entropy <b class="ls-top5-entropy">'
            f'{bits(rec["top5_entropy_bits"])}</b> bits (top 5 renormalised), mass below the {len(rec["top"])} '
            f'shown tokens <b class="ls-mass-below">{prob(rec["mass_below"])}</b>{model}</p>')


def bars_html(rec: dict, pick: bool = False) -> str:
    """The top tokens: rank, token, id, a bar of the sampling probability with a mark at the model's
    own, both numbers; then one row for every other token together. `pick`: rows are choosable."""
    transformed = rec["temperature"] != 1.0 or rec["top_p"] != 1.0
    head = (f'<tr><th>#</th><th>token</th><th>id</th><th>p ({settings(rec)})</th><th></th>'
            + ("<th>p (model)</th>" if transformed else "") + "</tr>")
    rows = []
    for r, t in enumerate(rec["top"]):
        attrs = (f'class="ls-tok-row{" ls-pick" if pick else ""}" data-id="{t["token_id"]}" data-p="{num(t["prob"])}" '
                 f'data-model-p="{num(t["model_prob"])}"' + (' tabindex="0" title="append this token"' if pick else ""))
        rows.append(f'<tr {attrs}><td>{r + 1}</td><td class="ls-piece">{token_html(t["token"])}</td>'
                    f'<td>{t["token_id"]}</td><td class="ls-barcell">{bar(t["prob"], t["model_prob"] if transformed else None)}</td>'
                    f'<td>{prob(t["prob"])}</td>' + (f'<td>{prob(t["model_prob"])}</td>' if transformed else "") + "</tr>")
    rows.append(f'<tr class="ls-below" data-p="{num(rec["mass_below"])}" data-model-p="{num(rec["model_mass_below"])}">'
                f'<td></td><td colspan="2">all other tokens</td><td class="ls-barcell">{bar(rec["mass_below"])}</td>'
                f'<td>{prob(rec["mass_below"])}</td>'
                + (f'<td>{prob(rec["model_mass_below"])}</td>' if transformed else "") + "</tr>")
    note = ('<p class="ls-note">bars: probability on a 0-1 scale after the temperature / top-p transform; '
            "the black mark is the model's own (T = 1)</p>" if transformed else "")
    if any(has_bytes(t["token"]) for t in rec["top"]) or any(has_bytes(p) for p in rec["pieces"]):
        note += f'<p class="ls-note">{BYTE_LEGEND}</p>'

    return f'<table class="ls-bars">{head}{"".join(rows)}</table>{note}'


def next_token_html(rec: dict, *, branch: int = 0, pick: bool = False, style: bool = True, title: bool = True) -> str:
    """The whole view of a `NextToken` record; `branch`: how many of its last prompt tokens were
    chosen by hand; `pick`: token rows can be chosen (the explorer's script listens to them);
    `title`: the model's name on top."""
    body = (f'<div class="ls-view ls-next" data-entropy="{num(rec["entropy_bits"])}" '
            f'data-top5-entropy="{num(rec["top5_entropy_bits"])}" data-mass-below="{num(rec["mass_below"])}" '
            f'data-model-entropy="{num(rec["model_entropy_bits"])}">'
            + (f'<span class="ls-label">{esc(rec["model"])}</span>' if title else "") +
            f"{prompt_html(rec, branch)}{stats_html(rec)}{bars_html(rec, pick)}</div>")
    return fragment(body, style)
