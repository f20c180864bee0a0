"""The report's building blocks (text, tables, figures, provenance) and their two renderings: one
self-contained HTML file (figures embedded as data URIs, no scripts, no network) and a markdown
summary (figures as PNG files beside it)."""
from __future__ import annotations

import base64
import html
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Section:
    key: str
    title: str
    blocks: list = field(default_factory=list)

    def text(self, s: str):
        self.blocks.append({"kind": "text", "text": s})

    def links(self, lead: str, items):
        """A line of links: `lead` then (label, path) items, relative to the report in both renderings."""
        self.blocks.append({"kind": "links", "lead": lead, "items": [(str(t), Path(p)) for t, p in items]})

    def table(self, headers, rows, caption: str = ""):
        self.blocks.append({"kind": "table", "headers": [str(h) for h in headers],
                            "rows": [["" if c is None else str(c) for c in r] for r in rows], "caption": caption})

    def figure(self, fig_or_path, caption: str, name: str):
        """A matplotlib figure (closed here) or an existing PNG file."""
        if isinstance(fig_or_path, (str, Path)):
            data = Path(fig_or_path).read_bytes()
        else:
            import matplotlib.pyplot as plt
            buf = io.BytesIO()
            fig_or_path.tight_layout()
            fig_or_path.savefig(buf, format="png", dpi=110, bbox_inches="tight")
            plt.close(fig_or_path)
            data = buf.getvalue()
        self.blocks.append({"kind": "figure", "png": data, "caption": caption, "name": name})

    def provenance(self, runs, note: str = ""):
        """Which models, formats, prompts, seeds and package version made this, with links to the files."""
        self.blocks.append({"kind": "prov", "runs": runs, "note": note})


def _prov_lines(runs) -> list[tuple[str, Path]]:
    out = []
    for r in runs:
        c = r.config
        prov = r.header.get("provenance", {})
        bits = [f"model {r.model}"]
        for k in ("format", "dtype", "quantize", "seed", "temperature", "top_p", "game", "adversary", "infix"):
            if c.get(k) not in (None, "", "none"):
                bits.append(f"{k} {c[k]}")
        prompt = c.get("prompt") or (c.get("prompts") or [None])[0] or c.get("chat_prompt")
        if prompt:
            bits.append(f"prompt {str(prompt)[:80]!r}")
        version = prov.get("versions", {}).get("logitscope")
        if version:
            bits.append(f"logitscope {version}")
        out.append(("; ".join(bits), r.path))
    return out


def _rel(path: Path, base: Path) -> str:
    try:
        return os.path.relpath(path, base)
    except ValueError:
        return str(path)


NUMERIC = re.compile(r"^(?=.*\d)[-+\d.,e%\[\] /]+$|^-$")


def _text_columns(rows) -> set:
    """Columns holding any text: left-aligned; columns of numbers (and '-', '+1.2 [0.1, 2.3]') right."""
    return {i for r in rows for i, c in enumerate(r) if not NUMERIC.match(c)}


def _table(b, n: int) -> str:
    """Table number n; its text columns left-aligned by a rule scoped to it (cells stay plain <td>)."""
    left = sorted(_text_columns(b["rows"]) | {0})
    rule = ", ".join(f"table.c{n} td:nth-child({i + 1}), table.c{n} th:nth-child({i + 1})" for i in left)
    head = "".join(f"<th>{html.escape(h)}</th>" for h in b["headers"])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in b["rows"])
    cap = f"<caption>{html.escape(b['caption'])}</caption>" if b["caption"] else ""
    return (f"<style>{rule} {{ text-align: left; }}</style><table class='c{n}'>{cap}<thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table>")


def render_html(title: str, intro: str, sections: list[Section], base: Path, note: str = "") -> str:
    note = f"<p class='note'>{html.escape(note)}</p>" if note else ""
    parts = [f"<h1>{html.escape(title)}</h1><p class='meta'>{html.escape(intro)}</p>{note}<nav><b>Sections:</b> " +
             " &middot; ".join(f"<a href='#{s.key}'>{html.escape(s.title)}</a>" for s in sections) + "</nav>"]
    for s in sections:
        parts.append(f"<section id='{s.key}'><h2>{html.escape(s.title)}</h2>")
        for b in s.blocks:
            if b["kind"] == "text":
                parts.append(f"<p>{html.escape(b['text'])}</p>")
            elif b["kind"] == "links":
                items = "; ".join(f"<a href='{html.escape(_rel(p, base))}'>{html.escape(t)}</a>" for t, p in b["items"])
                parts.append(f"<p>{html.escape(b['lead'])} {items}</p>")
            elif b["kind"] == "table":
                parts.append(_table(b, len(parts)))
            elif b["kind"] == "figure":
                data = base64.b64encode(b["png"]).decode()
                parts.append(f"<figure><img alt='{html.escape(b['caption'])}' src='data:image/png;base64,{data}'>"
                             f"<figcaption>{html.escape(b['caption'])}</figcaption></figure>")
            elif b["kind"] == "prov":
                items = "".join(f"<li>{html.escape(t)} &mdash; <a href='{html.escape(_rel(p, base))}'>"
                                f"{html.escape(p.name)}</a></li>" for t, p in _prov_lines(b["runs"]))
                note = f"<p>{html.escape(b['note'])}</p>" if b["note"] else ""
                parts.append(f"<details class='prov'><summary>made by ({len(b['runs'])} result files)</summary>"
                             f"{note}<ul>{items}</ul></details>")
        parts.append("</section>")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>")


def render_markdown(title: str, intro: str, sections: list[Section], files: Path, base: Path, note: str = "") -> str:
    lines = [f"# {title}", "", intro, ""] + ([f"> {note}", ""] if note else [])
    files.mkdir(parents=True, exist_ok=True)
    for s in sections:
        lines += [f"## {s.title}", ""]
        for b in s.blocks:
            if b["kind"] == "text":
                lines += [b["text"], ""]
            elif b["kind"] == "links":
                lines += [b["lead"] + " " + "; ".join(f"[{t}]({_rel(p, base)})" for t, p in b["items"]), ""]
            elif b["kind"] == "table":
                if b["caption"]:
                    lines += [f"*{b['caption']}*", ""]
                lines.append("| " + " | ".join(b["headers"]) + " |")
                lines.append("|" + "---|" * len(b["headers"]))
                lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in b["rows"]]
                lines.append("")
            elif b["kind"] == "figure":
                png = files / f"{b['name']}.png"
                png.write_bytes(b["png"])
                lines += [f"![{b['caption']}]({_rel(png, base)})", "", f"*{b['caption']}*", ""]
            elif b["kind"] == "prov":
                lines += [f"- {t} ([{p.name}]({_rel(p, base)}))" for t, p in _prov_lines(b["runs"])] + [""]
    return "\n".join(lines)


STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 78em; padding: 0 1.5em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2.2em; border-bottom: 1px solid #ccc; }
nav { margin: 1em 0; font-size: 0.9em; } .meta { color: #555; }
.note { background: #fff6d5; border-left: 4px solid #e6b800; padding: 0.5em 0.8em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.85em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.55em; text-align: right; }
th { background: #f3f3f3; }
caption { caption-side: top; text-align: left; color: #444; padding-bottom: 0.3em; font-style: italic; }
figure { margin: 1em 0; } img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.85em; } details.prov { font-size: 0.8em; color: #555; }
"""
