"""A self-contained HTML page of generated texts, every token coloured by its probability under the
model (red = unlikely, green = likely: the colouring of Mohammadi 2024's attractor figure), with a
tooltip listing the top-5 alternatives. No scripts, no network: it opens from disk."""
from __future__ import annotations

import html
import math
from pathlib import Path

STYLE = """
body { font: 14px/1.5 system-ui, sans-serif; margin: 2em; max-width: 70em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 2em; border-bottom: 1px solid #ccc; }
.meta { color: #555; font-size: 0.9em; }
.sample { font-family: ui-monospace, monospace; white-space: pre-wrap; margin: 0.6em 0; padding: 0.5em;
          border: 1px solid #e4e4e4; border-radius: 4px; }
.prompt { color: #777; }
.tok { border-radius: 2px; }
.tok:hover { outline: 1px solid #333; }
.label { font: 12px system-ui, sans-serif; color: #555; display: block; margin-bottom: 0.2em; }
.legend span { padding: 0 0.6em; font-family: ui-monospace, monospace; }
"""


def colour(p: float) -> str:
    """hsl from red (p = 0) through orange and yellow to green (p = 1)."""
    p = min(max(float(p), 0.0), 1.0)
    return f"hsl({int(round(120 * p))}, 75%, 82%)"


def visible(piece: str) -> str:
    return piece.replace("\n", "\u21b5\n") if piece else "\u2205"


def tooltip(probability: float, top5, pieces=None) -> str:
    lines = [f"p = {probability:.4f}", "top 5:"]
    for j, (tid, p) in enumerate(top5):
        name = pieces[j] if pieces else f"id {tid}"
        lines.append(f"  {name!r}  {p:.4f}")
    return "\n".join(lines)


def token_spans(record: dict) -> str:
    """One <span class="tok"> per generated token of a generation record."""
    out = []
    names = record.get("top5_pieces")
    for k, piece in enumerate(record["pieces"]):
        p = math.exp(record["logprob"][k])
        tip = tooltip(p, record["top5"][k], names[k] if names else None)
        out.append(f'<span class="tok" style="background:{colour(p)}" title="{html.escape(tip, quote=True)}">'
                   f"{html.escape(visible(piece))}</span>")
    return "".join(out)


def sample_block(record: dict, label: str = "", prompt: str | None = None) -> str:
    head = f'<span class="label">{html.escape(label)}</span>' if label else ""
    pre = f'<span class="prompt">{html.escape(prompt)}</span>' if prompt else ""
    return f'<div class="sample">{head}{pre}{token_spans(record)}</div>'


def legend() -> str:
    cells = "".join(f'<span style="background:{colour(p)}">{p:g}</span>' for p in (0, 0.1, 0.25, 0.5, 0.75, 1.0))
    return f'<p class="legend">token probability under the model: {cells} (hover a token for its top 5)</p>'


def page(title: str, sections: list[tuple[str, str, str]], meta: str = "") -> str:
    """sections: (heading, a line of description, body html)."""
    body = "".join(f"<h2>{html.escape(h)}</h2><p class=\"meta\">{html.escape(d)}</p>{b}" for h, d, b in sections)
    return (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<p class=\"meta\">{html.escape(meta)}</p>{legend()}{body}</body></html>")


def write(path: Path, text: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
