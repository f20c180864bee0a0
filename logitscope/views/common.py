"""What every view shares: its style sheet (classes prefixed `ls-`, so a notebook's own styles are
left alone), number formats, visible whitespace, and the wrapper that makes a fragment stand alone."""
from __future__ import annotations

import html
import re

STYLE = """
.ls-view { font: 13px/1.45 system-ui, sans-serif; color: #222; margin: 0.4em 0; max-width: 60em; }
.ls-view .ls-label { display: block; font-size: 12px; color: #555; margin-bottom: 0.2em; }
.ls-view .ls-note { color: #555; font-size: 12px; margin: 0.3em 0; }
.ls-view .ls-approx { color: #a33; font-weight: bold; }
.ls-prompt { font-family: ui-monospace, monospace; white-space: pre-wrap; word-break: break-all; padding: 0.4em;
             border: 1px solid #e4e4e4; border-radius: 4px; background: #f8f8f8; }
.ls-ptok { border: 1px solid #c8c8c8; border-radius: 2px; margin: 0 1px 0 0; padding: 0 1px; background: #fff; }
.ls-ptok:nth-child(odd) { background: #eef3fb; }
.ls-ptok.ls-special { color: #7a4aa0; }
.ls-ptok.ls-branch { background: #ffe9b3; border-color: #d09a1a; }
.ls-ws { color: #999; }
.ls-stats { margin: 0.4em 0; }
.ls-stats b { font-variant-numeric: tabular-nums; }
table.ls-bars { border-collapse: collapse; margin: 0.3em 0; font: inherit; }
table.ls-bars th { font-weight: normal; color: #555; text-align: left; padding: 0.1em 0.5em;
                   border-bottom: 1px solid #ddd; }
table.ls-bars td { padding: 0.1em 0.5em; font-variant-numeric: tabular-nums; text-align: right; }
table.ls-bars td.ls-piece { text-align: left; font-family: ui-monospace, monospace; white-space: pre; }
table.ls-bars td.ls-barcell { width: 14em; text-align: left; }
.ls-bar { position: relative; height: 0.9em; background: #f0f0f0; border-radius: 2px; }
.ls-bar .ls-fill { position: absolute; left: 0; top: 0; bottom: 0; background: #3b78c4; border-radius: 2px; }
.ls-bar .ls-mark { position: absolute; top: -2px; bottom: -2px; width: 2px; background: #222; }
.ls-bar .ls-fill.ls-valid { background: #3a9a5a; }
tr.ls-below td { color: #666; border-top: 1px solid #eee; }
tr.ls-pick { cursor: pointer; }
tr.ls-pick:hover td, tr.ls-pick:focus td { background: #fff3cc; }
tr.ls-chosen td { background: #ffe9b3; }
.ls-mass { display: flex; height: 1.1em; border: 1px solid #bbb; border-radius: 3px; overflow: hidden; max-width: 30em; }
.ls-mass span { display: block; height: 100%; }
.ls-m-valid { background: #3a9a5a; } .ls-m-invalid { background: #bbb; }
.ls-m-unexplored { background: repeating-linear-gradient(45deg, #e0a030, #e0a030 3px, #fff 3px, #fff 6px); }
.ls-key { margin: 0.3em 0 0; }
.ls-key .ls-swatch { display: inline-block; width: 0.8em; height: 0.8em; margin: 0 0.3em 0 0.8em; vertical-align: -1px; }
.ls-view table.ls-bars td.ls-tokens { text-align: left; white-space: normal; }
.ls-path-toks span { border: 1px solid #bbb; border-radius: 2px; padding: 0 2px; margin-right: 1px;
                     font-family: ui-monospace, monospace; white-space: pre; background: #fff; line-height: 1.7; }
.ls-path-toks span.ls-set { border-style: dashed; background: #f4f4f4; font: 12px system-ui, sans-serif;
                            white-space: normal; }
.ls-path-toks span .ls-byte, .ls-byte { border: 0; padding: 0; margin: 0; background: #f3e6f7; color: #7a4aa0;
                                        font-family: ui-monospace, monospace; }
table.ls-path-table { width: 100%; max-width: 46em; table-layout: fixed; }
table.ls-path-table col.ls-c-rank { width: 2.5em; } table.ls-path-table col.ls-c-p { width: 6.5em; }
table.ls-path-table col.ls-c-share { width: 5em; }
details.ls-more-paths > summary { cursor: pointer; color: #2a5ea8; font-size: 12px; margin: 0.2em 0; }
"""

BYTES = re.compile(r"&lt;0x[0-9A-F]{2}&gt;")
BYTE_LEGEND = ('<span class="ls-byte">&lt;0xE2&gt;</span>: one byte of a character split across tokens (not text '
               "on its own; the tokens around it complete the character)")


def prob(p: float) -> str:
    """A probability as shown: 4 decimals, or 3 significant digits below 0.001 (its exact value is in
    the element's `data-` attribute)."""
    p = float(p)
    return f"{p:.4f}" if p >= 0.001 or p == 0 else f"{p:.2e}"


def bits(x: float) -> str:
    return f"{float(x):.3f}"


def num(x) -> str:
    """A float with all its digits, for a `data-` attribute (reads back as the same float)."""
    return repr(float(x))


def esc(text) -> str:
    return html.escape(str(text), quote=True)


def shown(piece: str) -> str:
    """Token text in one line: spaces, newlines and tabs made visible; an empty piece as an empty-set sign."""
    if not piece:
        return "\u2205"
    return piece.replace(" ", "\u2423").replace("\n", "\u21b5").replace("\t", "\u21e5").replace("\r", "\u240d")


def token_html(piece: str) -> str:
    """Token text in one line, escaped, with bytes that are not text on their own (`<0xE2>`, as the
    explorer writes them) marked."""
    return BYTES.sub(lambda m: f'<span class="ls-byte">{m.group(0)}</span>', esc(shown(piece)))


def has_bytes(piece: str) -> bool:
    return bool(BYTES.search(esc(piece or "")))


def visible_html(piece: str) -> str:
    """Token text for running text: whitespace marks in grey, a newline kept after its mark."""
    if not piece:
        return '<span class="ls-ws">\u2205</span>'
    out = []
    for ch in piece:
        mark = {" ": "\u2423", "\n": "\u21b5\n", "\t": "\u21e5", "\r": "\u240d"}.get(ch)
        out.append(f'<span class="ls-ws">{mark}</span>' if mark else esc(ch))
    return "".join(out)


def bar(p: float, model_p: float | None = None, cls: str = "") -> str:
    """A probability bar on [0, 1]; `model_p`: a black mark where the model's own probability is."""
    w = min(max(float(p), 0.0), 1.0) * 100
    mark = "" if model_p is None else \
        f'<span class="ls-mark" style="left:{min(max(float(model_p), 0.0), 1.0) * 100:.2f}%"></span>'
    return f'<div class="ls-bar"><span class="ls-fill {cls}" style="width:{w:.2f}%"></span>{mark}</div>'


def fragment(body: str, style: bool = True) -> str:
    """A view that stands alone (a notebook cell): its style sheet first, unless the page has it."""
    return (f"<style>{STYLE}</style>" if style else "") + body
