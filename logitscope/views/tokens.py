"""A self-contained HTML page of generated texts, one box per token, from generation records
(`Sample.to_json`: ids, pieces, logprob, entropy_bits, top5_entropy_bits, top5, top5_pieces), whose
numbers it shows as they are (never recomputed):

- colour by the token's probability under the model (red = unlikely, green = likely: the colouring
  of Mohammadi 2024's attractor figure) or by its top-5 entropy in bits (white = 0, deep blue =
  log2 5), switched at the top of the page by two radio inputs and CSS sibling selectors;
- a thin edge on every token, so neighbours of one colour stay apart;
- a tooltip that is a small table (shown by CSS on :hover and on keyboard :focus): the token's
  probability, full and top-5 entropy (bits) and its top 5 with the sampled token marked;
- the prompt shown once per model (`model_section`), samples numbered from 1 with how they ended.

No scripts, no network: it opens from disk.

    sections = [model_section(model, description, prompt_text, records), ...]
    write(path, page("Token entropy", sections, meta))      # or samples_body(prompt_text, records)
"""
from __future__ import annotations

import html
import math
from pathlib import Path

from .common import shown

TOP5_MAX_BITS = math.log2(5)
FINISH = {"eos": "ended at end of text", "stop": "ended at the stop string", "length": "ended at the token limit"}

PAGE_STYLE = """
body { font: 14px/1.5 system-ui, sans-serif; margin: 0; color: #222; }
.page { margin: 2em; max-width: 70em; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 2em; border-bottom: 1px solid #ccc; }
.meta { color: #555; font-size: 0.9em; }
"""
# the token rules alone (also what a notebook cell gets: nothing that restyles the page around it)
STYLE = """
.sample, .prompt { font-family: ui-monospace, monospace; white-space: pre-wrap; margin: 0.6em 0; padding: 0.5em;
                   border: 1px solid #e4e4e4; border-radius: 4px; }
.prompt { color: #555; background: #f7f7f7; }
.given { color: #666; }
.label { font: 12px system-ui, sans-serif; color: #555; display: block; margin-bottom: 0.2em; }
.tok { position: relative; border-radius: 2px; box-shadow: inset -1px 0 0 rgba(0, 0, 0, 0.35); cursor: default; }
.tok:hover, .tok:focus { outline: 2px solid #333; outline-offset: 0; }
.tip { display: none; position: absolute; left: 0; top: 1.6em; z-index: 10; background: #fff; color: #222;
       border: 1px solid #888; border-radius: 4px; padding: 0.3em 0.5em; box-shadow: 0 2px 6px rgba(0, 0, 0, 0.25);
       white-space: nowrap; font: 12px/1.4 system-ui, sans-serif; }
.tok:hover > .tip, .tok:focus > .tip { display: block; }
.tip table { border-collapse: collapse; }
.tip th { text-align: left; font-weight: normal; color: #555; padding-right: 1em; }
.tip td { text-align: right; font-variant-numeric: tabular-nums; }
.tip td.piece { text-align: left; font-family: ui-monospace, monospace; padding-right: 1em; }
.tip tr.sampled td, .tip tr.sampled th { font-weight: bold; }
.tip th.top { padding-top: 0.3em; border-bottom: 1px solid #ddd; }
.tip td:last-child { padding-left: 0.6em; text-align: left; }
.colour { position: absolute; opacity: 0; }
.switch label { padding: 0.15em 0.6em; border: 1px solid #aaa; border-radius: 3px; cursor: pointer; }
#by-p:checked ~ .page .tok { background: var(--p); }
#by-h:checked ~ .page .tok { background: var(--h); }
#by-p:checked ~ .page label[for=by-p], #by-h:checked ~ .page label[for=by-h] { background: #333; color: #fff; }
#by-p:checked ~ .page .legend-h, #by-h:checked ~ .page .legend-p { display: none; }
.colour:focus-visible ~ .page .switch { outline: 2px dashed #333; }
.legend span { padding: 0 0.6em; font-family: ui-monospace, monospace; }
"""


def colour(p: float) -> str:
    """hsl from red (p = 0) through orange and yellow to green (p = 1)."""
    p = min(max(float(p), 0.0), 1.0)
    return f"hsl({int(round(120 * p))}, 75%, 82%)"


def entropy_colour(bits: float) -> str:
    """hsl from near-white (0 bits: one token takes the top 5's mass) to deep blue (log2 5 bits)."""
    t = min(max(float(bits) / TOP5_MAX_BITS, 0.0), 1.0)
    return f"hsl(215, 80%, {int(round(96 - 34 * t))}%)"


def prob(p: float) -> str:
    """A probability as shown: 4 decimals, or 3 significant digits below 0.001."""
    return f"{p:.4f}" if p >= 0.001 or p == 0 else f"{p:.2e}"


def visible(piece: str) -> str:
    """Token text on the page: a newline shown as a return arrow (and kept), an empty piece as an empty-set sign."""
    return piece.replace("\n", "\u21b5\n") if piece else "\u2205"


def finish_label(record: dict, what: str = "sample") -> str:
    """'sample 3, ended at the token limit' (samples counted from 1)."""
    finish = record.get("finish")
    return f"{what} {record['index'] + 1}, {FINISH.get(finish, f'ended: {finish}')}"


def tooltip(record: dict, k: int) -> str:
    """The table shown over token k: its probability, entropies (bits) and top 5, sampled one marked."""
    p = math.exp(record["logprob"][k])
    rows = [("p (model, T = 1)", prob(p))]
    slp = record.get("sample_logprob")
    if slp is not None and abs(slp[k] - record["logprob"][k]) > 1e-9:
        rows.append(("p (sampling T, top-p)", prob(math.exp(slp[k]))))
    rows += [("entropy (bits)", f"{record['entropy_bits'][k]:.3f}"),
             ("top-5 entropy (bits)", f"{record['top5_entropy_bits'][k]:.3f}")]
    head = "".join(f'<tr class="stat"><th>{a}</th><td>{b}</td><td></td></tr>' for a, b in rows)
    names = record.get("top5_pieces")
    tid = record["ids"][k]
    alts = []
    for j, (alt, q) in enumerate(record["top5"][k]):
        name = shown(names[k][j]) if names else f"id {alt}"
        cls, note = ("alt sampled", "&#9664; sampled") if alt == tid else ("alt", "")
        alts.append(f'<tr class="{cls}"><td class="piece">{html.escape(name)}</td><td>{prob(q)}</td><td>{note}</td></tr>')
    if all(alt != tid for alt, _ in record["top5"][k]):      # its sampling probability, like the rows above
        q = math.exp(slp[k]) if slp is not None else p
        alts.append(f"<tr class=\"alt sampled\"><td class=\"piece\">{html.escape(shown(record['pieces'][k]))}</td>"
                    f"<td>{prob(q)}</td><td>&#9664; sampled (not in the top 5)</td></tr>")
    return (f'<table>{head}<tr><th colspan="3" class="top">top 5 (sampling distribution)</th></tr>'
            f"{''.join(alts)}</table>")


def token_span(record: dict, k: int) -> str:
    p = math.exp(record["logprob"][k])
    style = f"--p:{colour(p)};--h:{entropy_colour(record['top5_entropy_bits'][k])}"
    return (f'<span class="tok" tabindex="0" style="{style}">{html.escape(visible(record["pieces"][k]))}'
            f'<span class="tip" role="tooltip">{tooltip(record, k)}</span></span>')


def token_spans(record: dict) -> str:
    """One <span class="tok"> per generated token of a generation record."""
    return "".join(token_span(record, k) for k in range(len(record["pieces"])))


def sample_block(record: dict, label: str = "", prefix: str | None = None) -> str:
    """One sample's tokens under its label; `prefix`: text shown before them, uncoloured (not generated)."""
    head = f'<span class="label">{html.escape(label)}</span>' if label else ""
    pre = f'<span class="given">{html.escape(prefix)}</span>' if prefix else ""
    return f'<div class="sample">{head}{pre}{token_spans(record)}</div>'


def prompt_block(text: str, label: str = "prompt, as the model reads it (its format applied)") -> str:
    return f'<div class="prompt"><span class="label">{html.escape(label)}</span>{html.escape(text)}</div>'


def samples_body(prompt_text: str, records: list[dict]) -> str:
    """The prompt once, then every sample labelled with its number and how it ended."""
    return prompt_block(prompt_text) + "".join(sample_block(r, finish_label(r)) for r in records)


def model_section(heading: str, description: str, prompt_text: str, records: list[dict]) -> tuple[str, str, str]:
    """A model's section of `page`: `samples_body` under a heading and a line of description."""
    return heading, description, samples_body(prompt_text, records)


def legend() -> str:
    cells = "".join(f'<span style="background:{colour(p)}">{p:g}</span>' for p in (0, 0.1, 0.25, 0.5, 0.75, 1.0))
    ent = "".join(f'<span style="background:{entropy_colour(b)}">{b:g}</span>' for b in (0, 0.5, 1, 1.5, 2, 2.32))
    return (f'<p class="switch">colour by <label for="by-p">probability</label> '
            f'<label for="by-h">top-5 entropy</label></p>'
            f'<p class="legend legend-p">token probability under the model (T = 1): {cells}</p>'
            f'<p class="legend legend-h">top-5 entropy of the token\'s distribution, bits (0 .. log2 5 = 2.32): '
            f'{ent}</p><p class="meta">Hover over a token, or move to it with Tab, for its numbers.</p>')


def page(title: str, sections: list[tuple[str, str, str]], meta: str = "") -> str:
    """sections: (heading, a line of description, body html)."""
    body = "".join(f"<h2>{html.escape(h)}</h2><p class=\"meta\">{html.escape(d)}</p>{b}" for h, d, b in sections)
    return (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{PAGE_STYLE}{STYLE}</style></head><body>"
            f'<input type="radio" class="colour" name="colour" id="by-p" checked aria-label="colour by probability">'
            f'<input type="radio" class="colour" name="colour" id="by-h" aria-label="colour by top-5 entropy">'
            f'<div class="page"><h1>{html.escape(title)}</h1>'
            f"<p class=\"meta\">{html.escape(meta)}</p>{legend()}{body}</div></body></html>")


def write(path: Path, text: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
