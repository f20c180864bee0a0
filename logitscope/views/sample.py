"""The view of a generated sample (`Sample.to_json(tokenizer)`): every token coloured by its
probability or its top-5 entropy, its numbers and top 5 on hover (`probe entropy`'s token page, whose
functions draw the tokens). The colouring follows the `data-colour` attribute of an enclosing
element (`p` or `h`), set by the explorer's switch."""
from __future__ import annotations

import html

from .tokens import STYLE as TOKENS_STYLE
from .tokens import colour, entropy_colour, finish_label, token_spans

STYLE = TOKENS_STYLE + """
[data-colour=p] .ls-sample .tok { background: var(--p); }
[data-colour=h] .ls-sample .tok { background: var(--h); }
[data-colour=p] .ls-sample .legend-h, [data-colour=h] .ls-sample .legend-p { display: none; }
"""


def legend() -> str:
    cells = "".join(f'<span style="background:{colour(p)}">{p:g}</span>' for p in (0, 0.1, 0.25, 0.5, 0.75, 1.0))
    ent = "".join(f'<span style="background:{entropy_colour(b)}">{b:g}</span>' for b in (0, 0.5, 1, 1.5, 2, 2.32))
    return (f'<p class="legend legend-p">token probability under the model (T = 1): {cells}</p>'
            f'<p class="legend legend-h">top-5 entropy of the token\'s distribution, bits (0 .. log2 5 = 2.32): {ent}</p>')


def sample_html(rec: dict) -> str:
    """A sample's tokens under its label (seed, settings, how it ended) and the colour legend."""
    label = (f"{finish_label(rec)}; seed {rec.get('seed', 0)}, T = {rec.get('temperature', 1.0):g}, "
             f"top-p = {rec.get('top_p', 1.0):g}, {len(rec['ids'])} tokens; hover a token for its top 5")
    return (f'<div class="ls-view ls-sample" data-ids="{" ".join(map(str, rec["ids"]))}">{legend()}'
            f'<div class="sample"><span class="label">{html.escape(label)}</span>{token_spans(rec)}</div></div>')
