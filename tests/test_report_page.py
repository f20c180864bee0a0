"""Issue 26, one consistent report: compare's verdict table on top, one colour per model in every
figure, the settings that tell runs apart, real relative links, colourbars, the studies' numbers
for any model, the embedded pair's demo note, compare naming its steps, no hidden folder; and a
headless Chromium screenshot of the page. Results from `probe compare --quick` on tiny models."""
import base64
import io
import json
import re
import shutil
import subprocess

import numpy as np
import pytest
from click.testing import CliRunner

from logitscope.cli.main import main
from logitscope.report.plots import model_colour, model_colours
from logitscope.testing import save_tiny_lm


def _ok(args):
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, (args, r.output)
    return r


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("page")
    a = str(save_tiny_lm(tmp / "a", "llama", peak=2.0, seed=5))
    b = str(save_tiny_lm(tmp / "b", "llama", peak=1.0, seed=7))
    out = tmp / "results"
    r = _ok(["compare", "--model", a, "--model", b, "--tasks", "integers,sequences,rps,entropy,diversity", "--quick",
             "--out", str(out)])
    _ok(["determinism", "--model", a, "--games", "4", "--rounds", "3", "--out", str(out)])   # a second rps run of a
    from logitscope.tasks.creativity import attractor
    from logitscope.kernels.engine import generate as gen
    real = gen.generate

    def fake(lm, prompt, n=1, max_new_tokens=64, **kw):          # a sentence and a word for the edit to find
        got = real(lm, prompt, n=n, max_new_tokens=max_new_tokens, **kw)
        if n == 1 and kw.get("greedy"):
            got[0].pieces = [" rock. You won. Move:", " paper"]
        return got
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(gen, "generate", fake)
        rows = attractor.run_attractor([a], edits=["won=>lost"], samples=2, max_new_tokens=6, out=str(out))
    attractor.attractor_html(rows, str(out))
    _ok(["report", str(out)])
    return out, a, b, r.output


def _section(page, key):
    return page.split(f"<section id='{key}'>")[1].split("</section>")[0]


def _pngs(part):
    import matplotlib.image as mpimg
    return [mpimg.imread(io.BytesIO(base64.b64decode(x)), format="png")
            for x in re.findall(r"src='data:image/png;base64,([^']*)'", part)]


def _has_colour(img, hexcolour, tol=0.03) -> bool:
    rgb = np.array([int(hexcolour[i:i + 2], 16) / 255 for i in (1, 3, 5)])
    for alpha in (1.0, 0.75):                                   # lines; scatter markers (alpha 0.75 on white)
        want = alpha * rgb + (1 - alpha)
        if (np.abs(img[..., :3] - want).max(axis=-1) < tol).sum() > 20:
            return True
    return False


def test_summary_settings_links_references(compared):
    out, a, b, log = compared
    page = (out / "report.html").read_text()
    assert page.index("<section id='summary'>") < page.index("<section id='answers'>")       # compare on top
    summary = _section(page, "summary")
    for measure in ("integers: answer entropy", "sequences: |mean repeats", "rps: net score", "open text: top-5",
                    "diversity: mean embedding cosine"):
        assert measure in summary
    assert "B - A [95% CI; exact: bounds]" in summary and "8 / 8 texts" in summary and "10 / 10 games of 5 rounds" in summary
    games = _section(page, "games")
    assert "<th>games</th><th>rounds</th>" in games
    assert len([x for x in re.findall(r"<tr><td>rps</td><td>([^<]*)</td>", games) if x == a]) == 2   # two runs of a
    ent = _section(page, "entropy")
    assert all(f"<th>{h}</th>" in ent for h in ("n", "max tokens", "T", "top-p"))
    for link in re.findall(r"<a href='([^']*)'>", ent + _section(page, "attractor")):
        if not link.endswith(".jsonl"):
            assert (out / link).exists(), link                                            # relative, real
    assert ".tokens.html'>" in ent and "attractor.html'>" in _section(page, "attractor")
    assert "<th>after 8</th>" in _section(page, "attractor")
    assert "published, West &amp; Potts 2025 Table 2" in games and "Llama-3.1-8B base (llama3.1-8b)" in games
    assert "Mohammadi 2024" in ent and "Mohammadi 2024" in _section(page, "diversity")
    assert "demo, not a matched base/aligned pair" not in page                     # tiny models: no embedded note
    assert "compare: step 1 of 5, integers" in log and "compare: step 5 of 5, diversity" in log
    assert not (out / ".report").exists() and (out / "report_files").is_dir()
    assert json.loads((next((out / "compare").glob("*.jsonl"))).read_text().splitlines()[-1])["type"] == "summary"


def test_one_colour_per_model_in_every_figure(compared):
    out, a, b, _ = compared
    colours = model_colours([a, b])
    assert colours[a] != colours[b] and model_colour("embedded:aligned") == model_colour("Embedded:Aligned")
    page = (out / "report.html").read_text()
    for key in ("answers", "sequences", "games", "entropy", "diversity"):
        for img in _pngs(_section(page, key))[:1]:
            assert _has_colour(img, colours[a]) and _has_colour(img, colours[b]), key
    seq = _pngs(_section(page, "sequences"))[1]                 # the heatmaps: a colourbar each (viridis' yellow)
    assert _has_colour(seq, "#fde725", tol=0.06) and _has_colour(seq, "#440154", tol=0.06)


def test_embedded_note_in_the_header(compared, tmp_path):
    out, a, _, _ = compared
    shutil.copytree(out / "sequences", tmp_path / "res" / "sequences")
    for f in (tmp_path / "res" / "sequences").glob("*.jsonl"):
        f.write_text(f.read_text().replace(json.dumps(a), json.dumps("embedded:aligned")))
    _ok(["report", str(tmp_path / "res")])
    head = (tmp_path / "res" / "report.html").read_text().split("<section")[0]
    assert "demo, not a matched base/aligned pair" in head and "word salad" in head


def test_chromium_screenshot_of_the_page(compared, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("headless Chromium is not installed (apt-get install chromium)")
    out, a, b, _ = compared
    shot = tmp_path / "shot.png"
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=1400,2400",
                    (out / "report.html").as_uri()], capture_output=True, timeout=120)
    import matplotlib.image as mpimg
    img = mpimg.imread(shot)
    assert img.shape[:2] == (2400, 1400)
    assert _has_colour(img, model_colours([a, b])[a], tol=0.06)                        # a figure drawn
