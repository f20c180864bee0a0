"""The token page ("Token entropy", `probe entropy`'s HTML) read back as markup: one element per
token, each tooltip table holding the generation record's own numbers with the sampled token marked,
the prompt once per model, plain labels, the colour switch without script; and (with Chromium) what
it looks like: probability colours by default, blue entropy colours when switched, a tooltip box."""
import math
import re
import shutil
import subprocess
from html.parser import HTMLParser

import pytest
from click.testing import CliRunner

from logitscope.cli.main import main
from logitscope.views import tokens as T
from logitscope.testing import save_tiny_lm, tiny_lm


class Tokens(HTMLParser):
    """Every <span class="tok">: its text (tooltip aside), its style and its tooltip table's rows
    (cell texts, and whether the row is marked sampled)."""

    def __init__(self):
        super().__init__()
        self.toks, self.depth, self.tip, self.row, self.cell = [], 0, None, None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        cls = (a.get("class") or "").split()
        if tag == "span" and "tok" in cls:
            self.toks.append({"text": "", "style": a.get("style", ""), "rows": [], "tabindex": a.get("tabindex")})
            self.depth, self.tip = 1, False
        elif tag == "span" and self.depth:
            self.depth += 1
            self.tip = self.tip or "tip" in cls
        elif tag == "tr" and self.tip:
            self.row = {"cells": [], "class": cls, "sampled": "sampled" in cls}
        elif tag in ("td", "th") and self.row is not None:
            self.cell = ""

    def handle_endtag(self, tag):
        if tag == "span" and self.depth:
            self.depth -= 1
            if self.depth == 1:
                self.tip = False
        elif tag in ("td", "th") and self.cell is not None:
            self.row["cells"].append(self.cell)
            self.cell = None
        elif tag == "tr" and self.row is not None:
            self.toks[-1]["rows"].append(self.row)
            self.row = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data
        elif self.depth == 1 and not self.tip:
            self.toks[-1]["text"] += data


def tokens_of(page: str) -> list[dict]:
    p = Tokens()
    p.feed(page)
    return p.toks


def close(shown: str, value: float) -> bool:
    """A number as the page prints it (4 decimals, 3 significant digits below 0.001, 3 decimals for bits)."""
    x = float(shown)
    half = 0.5 * 10 ** -(len(shown.split(".")[1].split("e")[0])) * (abs(x) if "e" in shown else 1)
    return abs(x - value) <= half * (1 + 1e-6)


@pytest.fixture(scope="module")
def records():
    """Real generation records of a tiny model (three samples, one cut by a stop string), plus one
    made by hand whose sampled token is not among its top 5 and whose neighbours share a colour."""
    from logitscope.kernels.engine.generate import generate
    lm = tiny_lm("llama", fmt="chat")
    got = [g.to_json(lm.tokenizer) for g in generate(lm, "Tell me about rock paper scissors.", n=3,
                                                      max_new_tokens=6, seed=1)]
    hand = {"index": 3, "text": "a\nb", "finish": "eos", "ids": [7, 7, 9], "pieces": ["a", "\n", "b"],
            "logprob": [math.log(0.5), math.log(0.5), math.log(0.0004)], "sample_logprob": [math.log(0.5)] * 2 + [-7.8],
            "entropy_bits": [1.25, 1.25, 9.5], "top5_entropy_bits": [1.0, 1.0, 2.3],
            "top5": [[[7, 0.5], [8, 0.2], [1, 0.1], [2, 0.1], [3, 0.1]]] * 2 + [[[1, 0.3], [2, 0.3], [3, 0.2],
                                                                                [4, 0.1], [5, 0.1]]],
            "top5_pieces": [["a", " x", "y", "z", "w"]] * 2 + [["q", "r", "s", "t", "u"]]}
    return lm, got + [hand]


def test_tooltips_hold_each_records_numbers_and_mark_the_sampled_token(records):
    _, recs = records
    page = T.page("Token entropy", [T.model_section("tiny", "a line", "PROMPT TEXT", recs)], "meta")
    toks = tokens_of(page)
    flat = [(r, k) for r in recs for k in range(len(r["ids"]))]
    assert len(toks) == len(flat)                                       # one element per generated token
    for tok, (r, k) in zip(toks, flat):
        assert tok["text"] == T.visible(r["pieces"][k]) and tok["tabindex"] == "0"
        head = {row["cells"][0]: row["cells"][1] for row in tok["rows"] if "stat" in row["class"]}
        assert close(head["p (model, T = 1)"], math.exp(r["logprob"][k]))
        assert close(head["entropy (bits)"], r["entropy_bits"][k])
        assert close(head["top-5 entropy (bits)"], r["top5_entropy_bits"][k])
        alts = [row for row in tok["rows"] if "alt" in row["class"]]
        assert [a["cells"][0] for a in alts[:5]] == [T.shown(x) for x in r["top5_pieces"][k]]
        assert all(close(a["cells"][1], q) for a, (_, q) in zip(alts, r["top5"][k]))
        sampled = [j for j, (i, _) in enumerate(r["top5"][k]) if i == r["ids"][k]]
        marked = [j for j, a in enumerate(alts) if a["sampled"]]
        if sampled:                                                     # marked where it is in the top 5
            assert marked == sampled and alts[sampled[0]]["cells"][2] == "\u25c0 sampled"
        else:                                                           # or added below them
            assert marked == [5] and "not in the top 5" in alts[5]["cells"][2]
            # under "top 5 (sampling distribution)": its probability under the sampling distribution
            assert close(alts[5]["cells"][1], math.exp(r.get("sample_logprob", r["logprob"])[k]))
        assert f"--p:{T.colour(math.exp(r['logprob'][k]))}" in tok["style"]
        assert f"--h:{T.entropy_colour(r['top5_entropy_bits'][k])}" in tok["style"]
    hand = toks[-3:]
    assert hand[0]["style"] == hand[1]["style"]                          # same colour: the edge keeps them apart
    assert "box-shadow: inset -1px" in T.STYLE
    assert head["p (sampling T, top-p)"] == T.prob(math.exp(-7.8))      # the hand record's last token


def test_prompt_once_per_model_and_plain_labels(records):
    _, recs = records
    page = T.page("Token entropy", [T.model_section("model A", "d", "PROMPT A\nline 2", recs),
                                    T.model_section("model B", "d", "PROMPT B", recs[:2])], "meta")
    assert page.count("PROMPT A\nline 2") == 1 and page.count("PROMPT B") == 1
    assert page.count('class="prompt"') == 2
    labels = re.findall(r'<span class="label">([^<]*)</span>', page)
    assert labels[1:5] == [f"sample {r['index'] + 1}, {T.FINISH[r['finish']]}" for r in recs]
    assert "sample 4, ended at end of text" in labels and "sample 0" not in page and "(length)" not in page
    assert T.finish_label({"index": 2, "finish": "length"}) == "sample 3, ended at the token limit"
    assert T.finish_label({"index": 0, "finish": "stop"}) == "sample 1, ended at the stop string"
    assert "<title>Token entropy</title>" in page and "<script" not in page and "http" not in page
    assert page.count('type="radio"') == 2 and 'id="by-p" checked' in page        # probability by default
    assert "#by-h:checked ~ .page .tok { background: var(--h); }" in T.STYLE
    assert ".tok:hover > .tip, .tok:focus > .tip { display: block; }" in T.STYLE


def test_probe_entropy_writes_the_token_page(tmp_path):
    model = str(save_tiny_lm(tmp_path / "m", "llama", peak=2.0, seed=5))
    r = CliRunner().invoke(main, ["entropy", "--model", model, "--samples", "3", "--max-new-tokens", "5",
                                  "--format", "chat", "--out", str(tmp_path / "r")])
    assert r.exit_code == 0, r.output
    pages = sorted((tmp_path / "r" / "entropy").glob("*.html"))
    assert len(pages) == 1
    page = pages[0].read_text()
    assert "<title>Token entropy</title>" in page and page.count('class="prompt"') == 1
    assert "&lt;|start_header_id|&gt;user" in page                      # the chat template, once
    import json
    results = next((tmp_path / "r" / "entropy").glob("*.jsonl"))
    recs = [json.loads(x) for x in open(results) if '"type": "unit"' in x]
    assert len(tokens_of(page)) == sum(len(x["ids"]) for x in recs)
    assert all(f"sample {x['index'] + 1}, {T.FINISH[x['finish']]}" in page for x in recs)


def _shot(chromium, page, path, tmp_path):
    path.parent.mkdir(parents=True, exist_ok=True)
    html_file = path.with_suffix(".html")
    html_file.write_text(page, encoding="utf-8")
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={path}", "--window-size=1100,900",
                    html_file.as_uri()], capture_output=True, timeout=120)
    import numpy as np
    from PIL import Image
    return np.asarray(Image.open(path).convert("HSV")).astype(int)


def _blue_pixels(img) -> int:
    h, s = img[..., 0], img[..., 1]
    return int(((h >= 140) & (h <= 165) & (s > 40)).sum())                # hue 215 degrees = 152 of 255


def test_chromium_screenshots_show_colours_switch_and_tooltip(records, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("headless Chromium is not installed (apt-get install chromium)")
    _, recs = records
    page = T.page("Token entropy", [T.model_section("tiny", "a line", "PROMPT", recs)], "meta")
    prob = _shot(chromium, page, tmp_path / "shots" / "probability.png", tmp_path)
    ent = _shot(chromium, page.replace('id="by-p" checked', 'id="by-p"').replace('id="by-h"', 'id="by-h" checked'),
                tmp_path / "shots" / "entropy.png", tmp_path)
    shown = page.replace('class="tok"', 'class="tok show"', 1).replace("</style>", ".show > .tip { display: block; }"
                                                                       "</style>")
    tip = _shot(chromium, shown, tmp_path / "shots" / "tooltip.png", tmp_path)
    assert _blue_pixels(ent) > 20 * _blue_pixels(prob) + 500            # the switch recolours every token
    diff = int((prob != tip).any(-1).sum())
    assert diff > 5000                                                   # a tooltip box drawn over the text
