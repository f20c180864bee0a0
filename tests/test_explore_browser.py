"""`probe explore` as a person uses it: the real command on two tiny models in a subprocess, driven
by Selenium with the system Chromium. Type a prompt, move the temperature, click a token, read an
answer set and one answer's token paths, sample, give a bad answer set: every number on the page
equals the Python API's to 1e-9. Screenshots of each view go to $LOGITSCOPE_SCREENSHOTS (default: the
test's temporary directory). Without chromium and chromedriver the browser test is skipped."""
import json
import os
import shutil
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from logitscope import answer_distribution, next_token
from logitscope.kernels.engine.generate import generate
from logitscope.testing import save_tiny_lm

pytest.importorskip("uvicorn", reason='the explorer needs its extra: pip install -e ".[explore]"')
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
browser = pytest.mark.skipif(not (CHROMIUM and DRIVER),
                             reason="no system chromium / chromedriver (apt-get install chromium chromium-driver)")
PROMPT, INFIX, T = "Pick a number", "Number:", 1.5


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("explore")
    return [str(save_tiny_lm(root / "a", "llama", peak=3.0, seed=2)), str(save_tiny_lm(root / "b", "qwen2", peak=3.0, seed=3))]


@pytest.fixture(scope="module")
def lms(models):
    from logitscope import load_model
    return [load_model(m) for m in models]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, data: bytes | None = None, headers: dict | None = None):
    req = urllib.request.Request(url, data=data, headers={**({"Content-Type": "application/json"} if data else {}),
                                                          **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def start(*args: str):
    """`probe explore ARGS` in a subprocess: (its URL as its startup line says it, the process)."""
    env = {**os.environ, "LOGITSCOPE_QUIET": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "logitscope.cli", "explore", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    line = proc.stdout.readline()
    assert line.startswith("logitscope explore: http://"), line + proc.stderr.read()
    url = line.split()[2]
    assert line == f"logitscope explore: {url}  (Ctrl-C to stop)\n"
    return url, proc


def stop(proc) -> None:
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture(scope="module")
def server(models):
    port = _free_port()
    url, proc = start("--model", models[0], "--model", models[1], "--port", str(port))
    assert url == f"http://127.0.0.1:{port}/"
    try:
        assert _get(url + "api/state")[0] == 200
        yield url, proc
    finally:
        stop(proc)


def test_the_command_says_its_url_listens_on_localhost_only_and_serves_on_after_bad_requests(server):
    url, proc = server
    import psutil
    conns = psutil.Process(proc.pid).net_connections(kind="inet")
    assert {c.laddr.ip for c in conns if c.status == psutil.CONN_LISTEN} == {"127.0.0.1"}
    for data, words in [(b"{oops", "not valid JSON"), (json.dumps({"prompt": "hi", "answers": "0-1O"}).encode(),
                                                          "unknown answer set")]:
        status, body = _get(url + "api/answers", data)
        assert status == 400 and body["error"] and set(body) <= {"error", "field"} and words in body["error"]
    status, body = _get(url + "api/next", json.dumps({"prompt": PROMPT}).encode())
    assert status == 200 and body["record"]["prompt_text"].endswith(PROMPT)
    for headers, words in [({"Host": "evil.example.com"}, "answers only as"),                  # DNS rebinding
                           ({"Origin": "http://evil.example.com", "Content-Type": "text/plain"}, "cross-origin")]:
        status, body = _get(url + "api/next", json.dumps({"prompt": PROMPT}).encode(), headers)
        assert status == 403 and list(body) == ["error"] and words in body["error"], body


def test_a_model_that_fails_to_load_ends_the_command_with_one_line(tmp_path):
    from click.testing import CliRunner

    from logitscope.cli.main import main
    r = CliRunner().invoke(main, ["explore", "--model", str(tmp_path / "nothing"), "--port", "0"])
    lines = r.output.strip().splitlines()                        # "loading ..." (a note), then the error
    assert r.exit_code == 1 and lines[-1].startswith("error: no such model directory") and "Traceback" not in r.output
    assert [ln for ln in lines if not ln.startswith("loading ")] == lines[-1:], r.output
    with socket.socket() as s:                                   # a port in use: said before any load
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        r = CliRunner().invoke(main, ["explore", "--port", str(s.getsockname()[1])])
    assert r.exit_code == 1 and "pick another --port" in r.output and r.output.count("\n") == 1, r.output


@pytest.fixture(scope="module")
def driver():
    if not (CHROMIUM and DRIVER):
        pytest.skip("no system chromium / chromedriver")
    webdriver = pytest.importorskip("selenium.webdriver", reason='selenium is in the test extra: pip install -e ".[test]"')
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1500,1100"):
        opts.add_argument(a)
    d = webdriver.Chrome(service=Service(DRIVER), options=opts)
    yield d
    d.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    path = Path(os.environ.get("LOGITSCOPE_SCREENSHOTS") or tmp_path_factory.mktemp("shots"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def until(d, script: str, timeout: float = 60):
    """Wait until the page's `script` (a JS expression) is truthy; return its value."""
    from selenium.webdriver.support.ui import WebDriverWait
    return WebDriverWait(d, timeout, poll_frequency=0.1).until(lambda d: d.execute_script(f"return {script}"))


def full_shot(d, path):
    d.execute_script("window.scrollTo(0, 0)")
    height = d.execute_script("return document.documentElement.scrollHeight")
    d.set_window_size(1500, height + 40)
    d.save_screenshot(str(path))
    d.set_window_size(1500, 1100)


READ_NEXT = """const v = document.querySelectorAll('.column')[arguments[0]].querySelector('.ls-next');
return {view: Object.assign({}, v.dataset), ids: [...v.querySelectorAll('.ls-ptok')].map(x => Number(x.dataset.id)),
        rows: [...v.querySelectorAll('tr.ls-tok-row')].map(r => [Number(r.dataset.id), r.dataset.p, r.dataset.modelP]),
        below: v.querySelector('tr.ls-below').dataset.p}"""


def check_next(d, col: int, lm, prompt, k: int, temperature: float, infix: str = INFIX):
    """The column's next-token view against `next_token` (the Python API), to 1e-9."""
    want = next_token(lm, prompt, infix=infix, temperature=temperature, k=k)
    got = d.execute_script(READ_NEXT, col)
    assert got["ids"] == list(want.ids)
    assert [r[0] for r in got["rows"]] == list(want.top_ids)
    for (_, p, q), wp, wq in zip(got["rows"], want.probs, want.model_probs):
        assert abs(float(p) - wp) <= 1e-9 and abs(float(q) - wq) <= 1e-9
    assert abs(float(got["below"]) - want.mass_below) <= 1e-9
    assert abs(float(got["view"]["entropy"]) - want.entropy_bits) <= 1e-9
    assert abs(float(got["view"]["top5Entropy"]) - want.top5_entropy_bits) <= 1e-9
    return want


def type_into(d, element_id: str, text: str):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    el = d.find_element(By.ID, element_id)
    el.send_keys(Keys.CONTROL, "a")
    el.send_keys(Keys.DELETE)
    el.send_keys(text)


@browser
def test_the_page_shows_the_python_apis_numbers(server, driver, lms, shots, tmp_path):
    from selenium.webdriver.common.by import By
    url, _ = server
    d = driver
    d.get(url)
    until(d, "document.querySelectorAll('.column .ls-next').length === 2")
    type_into(d, "prompt", PROMPT)
    type_into(d, "infix", INFIX)
    full_prompt = next_token(lms[0], PROMPT, infix=INFIX).prompt_text
    until(d, f"window.explore.columns.every(c => c.next && c.next.prompt_text === {json.dumps(full_prompt)})")
    type_into(d, "temperature", str(T))
    until(d, f"window.explore.columns.every(c => c.next.temperature === {T})")
    for col, lm in enumerate(lms):                                   # two models side by side, same prompt
        base = check_next(d, col, lm, PROMPT, 10, T)
    full_shot(d, shots / "explore-1-prompt-and-next-token.png")

    # click the third token of the first model: its distribution after that token
    ids = list(next_token(lms[0], PROMPT, infix=INFIX).ids)
    row = d.find_elements(By.CSS_SELECTOR, ".column:first-child .next tr.ls-tok-row")[2]
    chosen = int(row.get_attribute("data-id"))
    row.click()
    until(d, f"window.explore.columns[0].next.ids.length === {len(ids) + 1}")
    check_next(d, 0, lms[0], ids + [chosen], 10, T)
    assert d.execute_script("return document.querySelectorAll('.column:first-child .ls-ptok.ls-branch').length") == 1
    check_next(d, 1, lms[1], PROMPT, 10, T)                          # the other column keeps its own history
    full_shot(d, shots / "explore-2-after-clicking-a-token.png")

    # an exact answer set on both columns, then one answer's token paths
    type_into(d, "answers", "0-10")
    d.find_element(By.ID, "read-answers").click()
    until(d, "window.explore.columns.every(c => c.answers)")
    branch_ids = [ids + [chosen], list(base.ids)]
    wants = [answer_distribution(lm, b, "0-10", temperature=T, trace=True) for lm, b in zip(lms, branch_ids)]
    for col, want in enumerate(wants):
        got = d.execute_script("""const v = document.querySelectorAll('.column')[arguments[0]].querySelector('.ls-answers');
            return {rows: [...v.querySelectorAll('tr.ls-answer-row')].map(r => [r.dataset.answer, r.dataset.p, r.dataset.renorm]),
                    masses: [v.dataset.valid, v.dataset.invalid, v.dataset.unexplored]}""", col)
        assert [r[0] for r in got["rows"]] == list(want.answers)
        for a, p, rp in got["rows"]:
            assert abs(float(p) - want.answers[a]) <= 1e-9 and abs(float(rp) - want.renormalised[a]) <= 1e-9
        for g, w in zip(got["masses"], (want.valid_mass, want.invalid_mass, want.unexplored_mass)):
            assert abs(float(g) - w) <= 1e-9
    d.find_element(By.CSS_SELECTOR, '.column:first-child tr.ls-answer-row[data-answer="3"]').click()
    until(d, "document.querySelector('.column:first-child .ls-paths').dataset.answer === '3'")
    got = d.execute_script("""const v = document.querySelector('.column:first-child .ls-paths');
        return {paths: [...v.querySelectorAll('tr.ls-path')].map(r => r.dataset.p),
                sum: v.querySelector('.ls-paths-sum').dataset.p, rest: v.querySelector('tr.ls-below').dataset.p}""")
    mine = [p for p in wants[0].paths if p["answer"] == "3"]
    assert len(got["paths"]) == 25 and all(abs(float(g) - p["prob"]) <= 1e-9 for g, p in zip(got["paths"], mine))
    assert abs(float(got["sum"]) - wants[0].answers["3"]) <= 1e-9
    assert abs(float(got["rest"]) - sum(p["prob"] for p in mine[25:])) <= 1e-9
    visible = "[...document.querySelectorAll('.column:first-child .ls-paths tr.ls-path')].filter(r => r.checkVisibility()).length"
    assert d.execute_script(f"return {visible}") == 5                 # the rest fold under one line, above the sample
    full_shot(d, shots / "explore-3-answers-and-paths.png")
    d.find_element(By.CSS_SELECTOR, ".column:first-child .ls-more-paths summary").click()
    assert d.execute_script(f"return {visible}") == 25
    full_shot(d, shots / "explore-3b-all-shown-paths.png")

    # a sampled continuation, coloured by probability, then by top-5 entropy
    d.find_element(By.ID, "sample").click()
    until(d, "window.explore.columns.every(c => c.sample)")
    for col, (lm, b) in enumerate(zip(lms, branch_ids)):
        s = generate(lm, b, 1, 32, temperature=T, seed=0)[0]
        rec = d.execute_script("return window.explore.columns[arguments[0]].sample.record", col)
        assert {k: rec[k] for k in s.to_json(lm.tokenizer)} == s.to_json(lm.tokenizer)
        shown = d.execute_script("return document.querySelectorAll('.column')[arguments[0]].querySelector('.ls-sample')"
                                 ".dataset.ids", col)
        assert shown == " ".join(map(str, s.ids))
    tok = d.find_element(By.CSS_SELECTOR, ".column:first-child .ls-sample .tok")
    assert tok.value_of_css_property("background-color") != "rgba(0, 0, 0, 0)"
    d.execute_script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].focus()", tok)   # its top 5 shown
    assert d.find_element(By.CSS_SELECTOR, ".column:first-child .ls-sample .tok .tip").is_displayed()
    d.save_screenshot(str(shots / "explore-4-sample-tooltip.png"))
    from selenium.webdriver.support.ui import Select
    Select(d.find_element(By.ID, "colour")).select_by_value("h")
    full_shot(d, shots / "explore-5-sample-by-entropy.png")

    # export: the records (probe dist --json's keys) and a snapshot with no script and no network
    records = d.execute_script("return window.explore.records()")
    assert [r["model"] for r in records] == [lm.name for lm in lms]
    assert records[0]["answers"] == wants[0].answers and records[0]["ids"] == ids + [chosen]
    assert records[1]["top"] == next_token(lms[1], PROMPT, infix=INFIX, temperature=T, k=10).to_json()["top"]
    assert {"prompt_text", "top", "entropy_bits", "top5_entropy_bits", "answers", "valid_mass", "sample"} <= set(records[0])
    snap = d.execute_async_script("const done = arguments[arguments.length - 1]; window.explore.snapshotHtml().then(done)")
    assert "<script" not in snap and "src=" not in snap and "<link" not in snap and "ls-answers" in snap
    (tmp_path / "snap.html").write_text(snap, encoding="utf-8")
    d.get((tmp_path / "snap.html").as_uri())
    assert len(d.find_elements(By.CSS_SELECTOR, ".column .ls-next tr.ls-tok-row")) == 20
    full_shot(d, shots / "explore-6-snapshot.png")


@browser
def test_a_bad_answer_set_says_so_on_the_page_and_the_page_goes_on(server, driver, lms, shots):
    from selenium.webdriver.common.by import By
    url, _ = server
    d = driver
    d.get(url)
    until(d, "document.querySelectorAll('.column .ls-next').length === 2")
    type_into(d, "answers", "0-1O")
    d.find_element(By.ID, "read-answers").click()
    until(d, "!document.getElementById('error').hidden")
    assert "unknown answer set '0-1O'" in d.find_element(By.ID, "error").text
    d.save_screenshot(str(shots / "explore-7-bad-answer-set.png"))
    type_into(d, "k", "5")
    until(d, "window.explore.columns.every(c => c.next && c.next.top.length === 5)")
    check_next(d, 0, lms[0], "Pick a number between 0 and 10.", 5, 1.0, infix="")   # the page's first prompt


def test_ctrl_c_says_the_explorer_stopped(tmp_path):
    """A server has no results to keep or resume: Ctrl-C says it stopped, in one line."""
    import signal
    url, proc = start("--port", str(_free_port()))
    try:
        assert _get(url + "api/state")[0] == 200
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            stop(proc)
    assert err.strip() == "logitscope explore stopped" and proc.returncode == 130, err


def _evil_site(html: str):
    """Another web site on this machine (http://localhost:PORT/) serving one page: (its URL, the server)."""
    import http.server
    import threading

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return f"http://localhost:{srv.server_address[1]}/", srv


@browser
def test_a_page_of_another_site_cannot_use_the_explorer(server, driver):
    """A page open elsewhere POSTs text/plain (no preflight) to the explorer, as a browser lets it:
    the explorer starts no job and loads nothing; its own page goes on working."""
    url, _ = server
    answers = json.dumps({"prompt": PROMPT, "answers": "0-10"}).encode()
    before = int(_get(url + "api/answers", answers)[1]["job"])                   # a program's request: served
    attack = f"""<!DOCTYPE html><title>evil</title><script>
      const post = (path, body) => fetch({json.dumps(url)} + path, {{method: "POST", mode: "no-cors",
        headers: {{"Content-Type": "text/plain"}}, body: JSON.stringify(body)}}).catch(() => null);
      Promise.all([post("api/answers", {{prompt: "x", answers: "0-10"}}), post("api/load", {{spec: "embedded:base"}}),
                   post("api/next", {{prompt: "x"}})]).then(() => {{ document.title = "sent"; }});
    </script>"""
    evil, srv = _evil_site(attack)
    try:
        driver.get(evil)
        until(driver, "document.title === 'sent'")
    finally:
        srv.shutdown()
    after = int(_get(url + "api/answers", answers)[1]["job"])
    assert after == before + 1                                                    # the page's POST started nothing
    driver.get(url)
    until(driver, "document.querySelectorAll('.column .ls-next').length === 2")


@browser
def test_with_a_token_the_tokenised_url_opens_the_page_and_its_requests_carry_it(models, driver, shots):
    """`--token` (as any non-loopback --host): the startup line's URL carries the token; without it a
    403 with one line; the page opened from it works (its own requests carry the token in a cookie)."""
    url, proc = start("--model", models[0], "--port", str(_free_port()), "--token")
    try:
        base, token = url.split("?token=")
        assert len(token) >= 32 and base.startswith("http://127.0.0.1:")
        status, body = _get(base + "api/state")
        assert status == 403 and "needs its token" in body["error"]
        driver.get(base)
        assert "needs its token" in driver.find_element("tag name", "body").text
        driver.get(url)
        until(driver, "window.explore.columns.length === 1 && window.explore.columns[0].next")
        driver.find_element("id", "read-answers").click()
        until(driver, "window.explore.columns[0].answers")
        driver.get(base)                                                          # the cookie, no token in the URL
        until(driver, "window.explore.columns.length === 1 && window.explore.columns[0].next")
        driver.save_screenshot(str(shots / "explore-8-with-token.png"))
    finally:
        stop(proc)
        driver.delete_all_cookies()
