"""`next_token` against a hand computation, the views' exact numbers, and the explorer's routes on a
tiny model (Starlette's TestClient): the records the Python API gives, one-line 4xx answers to bad
requests with the server serving on, and model work serialised under one lock."""
import json
import math
import threading
import time
from html.parser import HTMLParser

import numpy as np
import pytest
from scipy import stats

from logitscope import UserError, answer_distribution, next_logprobs, next_token
from logitscope.kernels.engine.generate import generate
from logitscope.kernels.engine.sampling import transform
from logitscope.testing import tiny_lm
from logitscope.views.answers import answer_view, answers_html, paths_html
from logitscope.views.nexttoken import next_token_html

starlette = pytest.importorskip("starlette", reason='the explorer needs its extra: pip install -e ".[explore]"')
from starlette.testclient import TestClient  # noqa: E402

from logitscope.explore.app import create_app  # noqa: E402
from logitscope.explore.runner import ModelRunner  # noqa: E402

PROMPT, INFIX = "Pick a number", "Number:"
LOCAL = "http://127.0.0.1:8765"            # the address the explorer answers at (its guard refuses other names)


class Data(HTMLParser):
    """Every element's `data-` attributes with its class, in document order."""

    def __init__(self):
        super().__init__()
        self.items = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if any(k.startswith("data-") for k in a):
            self.items.append(a)


def data_of(html: str, cls: str) -> list[dict]:
    p = Data()
    p.feed(html)
    return [a for a in p.items if cls in (a.get("class") or "").split()]


@pytest.fixture(scope="module")
def lm():
    return tiny_lm("llama", peak=3.0, seed=2)


@pytest.mark.parametrize("temperature,top_p", [(1.0, 1.0), (1.5, 0.9), (0.7, 0.5)])
def test_next_token_equals_next_logprobs_and_transform_by_hand(lm, temperature, top_p):
    nt = next_token(lm, PROMPT, infix=INFIX, temperature=temperature, top_p=top_p, k=7)
    ids = lm.encode(PROMPT, INFIX)
    model_lp = next_logprobs(lm, [ids])[0]
    p = transform(model_lp, temperature, top_p).double().exp().numpy()
    q = model_lp.double().exp().numpy()
    order = np.argsort(-p, kind="stable")
    assert list(nt.ids) == ids and list(nt.top_ids) == order[:7].tolist()
    assert np.allclose(nt.probs, p[order[:7]], rtol=0, atol=1e-12)
    assert np.allclose(nt.model_probs, q[order[:7]], rtol=0, atol=1e-12)
    assert nt.mass_below == pytest.approx(p[order[7:]].sum(), abs=1e-12)
    assert nt.model_mass_below == pytest.approx(q[order[7:]].sum(), abs=1e-12)
    logp = np.log(p, out=np.full_like(p, 0.0), where=p > 0)
    assert nt.entropy_bits == pytest.approx(-(p * logp).sum() / math.log(2), abs=1e-9)        # float64, unrounded
    assert nt.model_entropy_bits == pytest.approx(-(q * np.log(q)).sum() / math.log(2), abs=1e-9)
    assert nt.entropy_bits == pytest.approx(stats.entropy(p, base=2), abs=1e-5)               # p sums to 1 +- 1e-7
    assert nt.top5_entropy_bits == pytest.approx(stats.entropy(p[order[:5]], base=2), abs=1e-9)
    from logitscope.kernels.engine.vocab import token_text         # decode, or <0xHH> for a byte of a character
    assert nt.pieces == tuple(token_text(lm.tokenizer, i) for i in ids) and nt.special[0] and not any(nt.special[1:])
    assert nt.top_pieces == tuple(token_text(lm.tokenizer, int(i)) for i in order[:7])
    assert nt.prompt_text == lm.tokenizer.decode(ids) and nt.format == "raw"
    same = next_token(lm, ids + [int(order[0])], temperature=temperature, top_p=top_p, k=7)   # ids as they are
    assert same.ids == tuple(ids + [int(order[0])])
    assert np.allclose(same.probs[0], transform(next_logprobs(lm, [list(same.ids)])[0], temperature, top_p)
                       .double().exp().max().item(), atol=1e-12)


def test_next_token_refuses_bad_input(lm):
    for kw, text in [(dict(k=0), r"k \(tokens shown\) must be between 1"), (dict(temperature=0), "temperature"), (dict(top_p=1.5), "top-p")]:
        with pytest.raises(UserError, match=text):
            next_token(lm, PROMPT, **kw)
    with pytest.raises(UserError, match="empty prompt"):
        next_token(lm, "  ")
    with pytest.raises(UserError, match="takes at most 2048"):
        next_token(lm, "a" * 3000)


def test_views_carry_the_records_exact_numbers(lm):
    nt = next_token(lm, PROMPT, infix=INFIX, temperature=1.5, k=5)
    rec = nt.to_json()
    html = next_token_html(rec, branch=2)
    rows = data_of(html, "ls-tok-row")
    assert [int(r["data-id"]) for r in rows] == list(nt.top_ids)
    assert [float(r["data-p"]) for r in rows] == list(nt.probs)                   # exact, not rounded
    assert [float(r["data-model-p"]) for r in rows] == list(nt.model_probs)
    view = data_of(html, "ls-next")[0]
    assert float(view["data-entropy"]) == nt.entropy_bits and float(view["data-mass-below"]) == nt.mass_below
    assert float(view["data-top5-entropy"]) == nt.top5_entropy_bits
    assert len(data_of(html, "ls-ptok")) == len(nt.ids) and len(data_of(html, "ls-branch")) == 2
    assert html.startswith("<style>") and nt._repr_html_() == html.replace(" ls-branch", "").replace(
        "; the last 2 chosen by you", "")
    d = answer_distribution(lm, PROMPT, "0-10", infix=INFIX, trace=True)
    rec = d.to_json()
    html = answers_html(rec)
    rows = data_of(html, "ls-answer-row")
    assert {r["data-answer"]: float(r["data-p"]) for r in rows} == d.answers
    assert {r["data-answer"]: float(r["data-renorm"]) for r in rows} == d.renormalised
    view = data_of(html, "ls-answers")[0]
    assert (float(view["data-valid"]), float(view["data-invalid"]), float(view["data-unexplored"])) == \
        (d.valid_mass, d.invalid_mass, d.unexplored_mass)
    paths = [p for p in d.paths if p["answer"] == "1"]
    html = paths_html(rec, "1", limit=4)
    shown = data_of(html, "ls-path")
    assert [float(r["data-p"]) for r in shown] == [p["prob"] for p in paths[:4]]
    assert float(data_of(html, "ls-below")[0]["data-p"]) == pytest.approx(sum(p["prob"] for p in paths[4:]), abs=1e-15)
    assert float(data_of(html, "ls-paths-sum")[0]["data-p"]) == pytest.approx(d.answers["1"], abs=1e-12)
    assert f"{len(paths) - 4:,} more paths" in html and "id " in html               # no tokenizer: ids
    view = answer_view(rec)                          # a notebook's: the answers, the most probable one's paths
    top = max(d.answers, key=d.answers.get)
    assert view.count("<style>") == 1 and data_of(view, "ls-chosen")[0]["data-answer"] == top
    assert data_of(view, "ls-paths")[0]["data-answer"] == top
    assert "ls-paths" not in answer_view(answer_distribution(lm, PROMPT, "0-10", infix=INFIX).to_json())


@pytest.fixture(scope="module")
def client():
    lm = tiny_lm("llama", peak=3.0, seed=2)
    from logitscope.kernels.models.loading import load_model
    app = create_app([ModelRunner(lm)], load=lambda spec, log: load_model(spec, log=log))
    with TestClient(app, base_url=LOCAL) as c:
        c.lm = lm
        yield c


def wait(c, job: dict) -> dict:
    t0 = time.monotonic()
    while job["state"] == "running":
        assert time.monotonic() - t0 < 60
        time.sleep(0.05)
        job = c.get(f"/api/jobs/{job['job']}").json()
    return job


def test_routes_answer_with_the_python_apis_records(client):
    lm = client.lm
    body = {"prompt": PROMPT, "infix": INFIX, "temperature": 1.5, "top_p": 0.95, "format": "raw"}
    r = client.post("/api/next", json={**body, "k": 6, "branch": [327]})
    assert r.status_code == 200
    ids = lm.encode(PROMPT, INFIX) + [327]
    assert r.json()["record"] == next_token(lm, ids, infix=INFIX, temperature=1.5, top_p=0.95, k=6).to_json()
    assert 'class="ls-tok-row ls-pick"' in r.json()["html"] and "<style>" not in r.json()["html"]
    chat = client.post("/api/next", json={**body, "format": "chat"}).json()["record"]
    assert chat["format"] == "chat" and chat["prompt_text"].endswith("<|end_header_id|>\n\nNumber:")
    job = wait(client, client.post("/api/answers", json={**body, "answers": "0-10", "branch": [19]}).json())
    want = answer_distribution(lm, lm.encode(PROMPT, INFIX) + [19], "0-10", temperature=1.5, top_p=0.95, trace=True)
    got = job["result"]["record"]
    assert job["state"] == "done" and got["answers"] == want.answers and got["invalid_mass"] == want.invalid_mass
    assert [p["prob"] for p in got["paths"]] == [p["prob"] for p in want.paths]
    assert got["paths"][0]["pieces"] == [lm.tokenizer.decode([i]) for i in want.paths[0]["ids"]]
    assert set(job["result"]["paths_html"]) == set(want.answers)
    job = wait(client, client.post("/api/sample", json={**body, "seed": 4, "max_new_tokens": 6}).json())
    s = generate(lm, PROMPT, 1, 6, temperature=1.5, top_p=0.95, seed=4, infix=INFIX)[0]
    rec = job["result"]["record"]
    assert {k: rec[k] for k in s.to_json(lm.tokenizer)} == s.to_json(lm.tokenizer) and rec["seed"] == 4
    assert f'data-ids="{" ".join(map(str, s.ids))}"' in job["result"]["html"]


def test_answer_sets_as_typed(client):
    body = {"prompt": PROMPT, "infix": INFIX}
    for text, labels in [("a-c", ["a", "b", "c"]), ("yes, no", ["yes", "no"]), ("up: up, UP\ndown", ["up", "down"]),
                         ('{"x": ["x", "X"], "y": "y"}', ["x", "y"])]:
        job = wait(client, client.post("/api/answers", json={**body, "answers": text}).json())
        assert list(job["result"]["record"]["answers"]) == labels, text


BAD = [  # (method, path, body or raw bytes, status, words in the message)
    ("post", "/api/next", b"{not json", 400, "not valid JSON"),
    ("post", "/api/next", b"[1, 2]", 400, "JSON object"),
    ("post", "/api/next", {}, 400, "Prompt is missing (field 'prompt')"),
    ("post", "/api/next", {"prompt": 7}, 400, "Prompt must be a string"),
    ("post", "/api/next", {"prompt": "hi", "format": "xml"}, 400, "unknown format"),
    ("post", "/api/next", {"prompt": "hi", "temperature": 0}, 400, "Temperature must be a number in [0.01, 100] (got 0)"),
    ("post", "/api/next", {"prompt": "hi", "top_p": 2}, 400, "top-p must be a number in (0, 1] (got 2)"),
    ("post", "/api/next", b'{"prompt": "hi", "temperature": Infinity}', 400, "in [0.01, 100] (got Infinity)"),
    ("post", "/api/next", b'{"prompt": "hi", "temperature": -Infinity}', 400, "in [0.01, 100] (got -Infinity)"),
    ("post", "/api/next", b'{"prompt": "hi", "temperature": NaN}', 400, "in [0.01, 100] (got NaN)"),
    ("post", "/api/next", {"prompt": "hi", "temperature": 1e308}, 400, "in [0.01, 100] (got 1e+308)"),
    ("post", "/api/next", b'{"prompt": "hi", "temperature": 1e400}', 400, "in [0.01, 100] (got Infinity)"),
    ("post", "/api/next", {"prompt": "hi", "temperature": 1e-300}, 400, "in [0.01, 100]"),
    ("post", "/api/next", b'{"prompt": "hi", "top_p": NaN}', 400, "top-p must be a number in (0, 1] (got NaN)"),
    ("post", "/api/next", {"prompt": "hi", "top_p": 0}, 400, "top-p must be a number in (0, 1] (got 0)"),
    ("post", "/api/answers", {"prompt": "hi", "answers": "0-10", "temperature": 1e308}, 400, "in [0.01, 100]"),
    ("post", "/api/answers", b'{"prompt": "hi", "answers": "0-10", "min_mass": Infinity}', 400,
     "Prune below must be a number in (0, 1) (got Infinity)"),
    ("post", "/api/answers", {"prompt": "hi", "answers": "0-10", "min_mass": 1}, 400, "in (0, 1) (got 1)"),
    ("post", "/api/answers", {"prompt": "hi", "answers": "0-10", "min_mass": 0}, 400,
     "Prune below must be a number in (0, 1) (got 0): branches lighter than this are pruned"),
    ("post", "/api/sample", b'{"prompt": "hi", "temperature": Infinity}', 400, "in [0.01, 100] (got Infinity)"),
    ("post", "/api/sample", b'{"prompt": "hi", "top_p": -Infinity}', 400, "(0, 1] (got -Infinity)"),
    ("post", "/api/sample", {"prompt": "hi", "seed": -1}, 400, "Seed must be a whole number in [0, 4,294,967,295]"),
    ("post", "/api/sample", {"prompt": "hi", "seed": 2 ** 64}, 400, "Seed must be a whole number in"),
    ("post", "/api/sample", {"prompt": "hi", "max_new_tokens": 10 ** 9}, 400, "New tokens must be a whole number in [1, 512]"),
    ("post", "/api/next", {"prompt": "hi", "k": 10 ** 30}, 400, "Tokens shown must be a whole number in [1, 200]"),
    ("post", "/api/next", {"prompt": "hi", "model": -1}, 400, "no model -1"),
    ("post", "/api/next", {"prompt": "hi", "temperature": "hot"}, 400, "Temperature must be a number (got \"hot\")"),
    ("post", "/api/next", {"prompt": "hi", "k": 0}, 400, "Tokens shown must be a whole number in [1, 200] (got 0)"),
    ("post", "/api/next", {"prompt": "hi", "branch": [-1]}, 400, "'branch'"),
    ("post", "/api/next", {"prompt": "hi", "branch": [10 ** 6]}, 400, "outside this model's vocabulary"),
    ("post", "/api/next", {"prompt": "hi", "model": 3}, 400, "no model 3"),
    ("post", "/api/next", {"prompt": "word " * 1000}, 400, "takes at most 2048"),
    ("post", "/api/next", {"prompt": "x" * 20_001}, 400, "at most 20,000"),
    ("post", "/api/answers", {"prompt": "hi", "answers": "0-1O"}, 400, "unknown answer set '0-1O'"),
    ("post", "/api/answers", {"prompt": "hi", "answers": "  "}, 400, "empty answer set"),
    ("post", "/api/answers", {"prompt": "hi", "answers": "7, 7."}, 400, "overlap"),
    ("post", "/api/answers", {"prompt": "hi", "answers": "/etc/passwd"}, 400, "unknown answer set"),
    ("post", "/api/answers", {"prompt": "hi", "answers": "{bad"}, 400, "not valid JSON"),
    ("post", "/api/sample", {"prompt": "hi", "max_new_tokens": 0}, 400, "New tokens must be a whole number in"),
    ("get", "/api/jobs/999999", None, 404, "no job 999999"),
    ("get", "/api/next", None, 405, "GET is not allowed"),
    ("get", "/api/nothing", None, 404, "no such page"),
    ("post", "/api/load", {"spec": ""}, 400, "give a model"),
]


@pytest.mark.parametrize("method,path,body,status,words", BAD, ids=[f"{b[1]}:{b[4]}" for b in BAD])
def test_a_bad_request_gets_one_line_and_the_server_serves_on(client, method, path, body, status, words):
    kw = {} if body is None else {"content": body} if isinstance(body, bytes) else {"json": body}
    r = getattr(client, method)(path, **kw)
    assert r.status_code == status and list(r.json()) in (["error"], ["error", "field"]), r.text
    assert words in r.json()["error"] and "\n" not in r.json()["error"] and "Traceback" not in r.text
    assert client.post("/api/next", json={"prompt": PROMPT}).status_code == 200


def test_a_model_that_fails_to_load_from_the_page_says_why(client, tmp_path):
    job = wait(client, client.post("/api/load", json={"spec": str(tmp_path / "missing")}).json())
    assert job["state"] == "error" and str(tmp_path / "missing") in job["error"] and "\n" not in job["error"]
    assert client.get("/api/state").json()["models"][0]["name"] == "tiny-llama"       # still one, still serving
    assert client.post("/api/next", json={"prompt": PROMPT}).status_code == 200


def test_models_load_from_the_page_once_each_and_two_at_most(tmp_path):
    from logitscope.kernels.models.loading import load_model
    from logitscope.testing import save_tiny_lm
    dirs = [str(save_tiny_lm(tmp_path / n, "llama", seed=s)) for n, s in (("a", 1), ("b", 2))]
    loads = []

    def load(spec, log):
        loads.append(spec)
        return load_model(spec, log=log)
    with TestClient(create_app([], load=load), base_url=LOCAL) as c:
        assert c.get("/api/state").json()["models"] == [] and c.get("/api/state").json()["can_load"]
        r = c.post("/api/next", json={"prompt": PROMPT})
        assert r.status_code == 400 and "no model loaded yet" in r.json()["error"]
        job = wait(c, c.post("/api/load", json={"spec": dirs[0]}).json())
        assert job["state"] == "done" and job["result"]["name"] == dirs[0]
        r = c.post("/api/load", json={"spec": dirs[0]})
        assert r.status_code == 400 and "loaded already" in r.json()["error"]
        job = wait(c, c.post("/api/load", json={"spec": "uniform"}).json())
        assert job["state"] == "error" and "oracle" in job["error"]
        assert wait(c, c.post("/api/load", json={"spec": dirs[1]}).json())["state"] == "done"
        r = c.post("/api/load", json={"spec": "embedded:base"})
        assert r.status_code == 400 and "2 models are loaded already" in r.json()["error"]
        state = c.get("/api/state").json()
        assert [m["name"] for m in state["models"]] == dirs and not state["can_load"] and loads == [dirs[0], "uniform", dirs[1]]
        lm = load_model(dirs[1])
        rec = c.post("/api/next", json={"prompt": PROMPT, "model": 1}).json()["record"]
        assert rec == next_token(lm, PROMPT, k=20).to_json() | {"model": dirs[1]}


def race(client) -> tuple[int, int]:
    """A readout job, a sample job and six next-token requests at once: (forwards, forwards that began
    while another was running)."""
    body_module = client.lm.model.model
    active, overlaps, calls = [0], [0], [0]
    guard = threading.Lock()

    def enter(*_):
        with guard:
            overlaps[0] += active[0] > 0
            active[0] += 1
            calls[0] += 1
        time.sleep(0.01)                                  # widen the window a race would need

    def leave(*_):
        with guard:
            active[0] -= 1
    hooks = [body_module.register_forward_pre_hook(enter), body_module.register_forward_hook(leave)]
    try:
        body = {"prompt": PROMPT, "infix": INFIX, "temperature": 1.0 + 0.01 * calls[0]}
        jobs = [client.post("/api/answers", json={**body, "answers": "0-10"}).json(),
                client.post("/api/sample", json={**body, "max_new_tokens": 8}).json()]
        results = []

        def ask(i):
            results.append(client.post("/api/next", json={**body, "branch": [i, len(results)], "k": 3}).status_code)
        threads = [threading.Thread(target=ask, args=(i,)) for i in range(20, 26)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        done = [wait(client, j)["state"] for j in jobs]
    finally:
        for h in hooks:
            h.remove()
    assert results == [200] * 6 and done == ["done", "done"]
    return calls[0], overlaps[0]


def test_model_work_is_serialised(client):
    calls, overlaps = race(client)
    assert calls >= 6 + 2 and overlaps == 0


def test_the_race_check_sees_a_race_without_the_lock(client, monkeypatch):
    class NoLock:                                          # every acquire succeeds at once
        def acquire(self, timeout=-1):
            return True

        def release(self):
            pass
    runner = client.app.state.explorer.runners[0]
    monkeypatch.setattr(runner, "lock", NoLock())
    calls, overlaps = race(client)
    assert overlaps > 0


def test_the_page_and_its_files_ship_in_the_package(client):
    page = client.get("/").text
    assert '<script src="/static/app.js">' in page and "http" not in page.replace("http-equiv", "")
    for path in ("/static/app.js", "/static/app.css", "/views.css"):
        r = client.get(path)
        assert r.status_code == 200 and "http://" not in r.text and "https://" not in r.text, path
    info = client.get("/api/state").json()["models"][0]
    assert info["vocab"] == len(client.lm.tokenizer) and info["context"] == 2048 and "chat" in info["formats"]


def test_api_objects_render_the_explorers_views_in_a_notebook(llama_lm):
    """`_repr_html_` of a next-token distribution, an answer distribution and a generated sample: the
    views the explorer shows, with their numbers in data- attributes, and no page-level styles (a
    notebook's own styles stay untouched)."""
    import re

    from logitscope import answer_distribution, next_token
    from logitscope.kernels.engine.generate import generate
    nt = next_token(llama_lm, "rock", k=5)
    d = answer_distribution(llama_lm, "rock", "rps", trace=True, min_mass=1e-4)
    s = generate(llama_lm, "rock", n=1, max_new_tokens=4, seed=0)[0]
    for obj in (nt, d, s):
        page = obj._repr_html_()
        assert page.startswith("<") and "ls-" in page
        assert not re.search(r"(^|[}\s])body\s*\{", page) and "<script" not in page
    got = [float(x) for x in re.findall(r'data-p="([^"]+)"', d._repr_html_())]
    assert any(abs(g - d.answers[a]) < 1e-12 for a in d.answers for g in got)
    assert s._repr_html_().count('class="tok"') == len(s.ids)


@pytest.mark.parametrize("top_p", [1.0, 0.008])
def test_top_k_under_top_p_are_the_models_next_most_likely_tokens(tmp_path, top_p):
    """Top-p leaves fewer than k tokens: the rest of the k shown are the model's next most likely
    tokens (at sampling probability 0), not the lowest ids; probe dist shows the same tokens and masses."""

    import torch
    from click.testing import CliRunner

    from logitscope import load_model, next_token
    from logitscope.cli.main import main
    from logitscope.kernels.engine.forward import next_logprobs
    from logitscope.testing import save_tiny_lm
    path = str(save_tiny_lm(tmp_path / "m", "llama", peak=2.0, seed=5))
    lm = load_model(path)
    nt = next_token(lm, "rock", k=10, top_p=top_p)
    q = next_logprobs(lm, [lm.encode("rock")])[0].double().exp()
    want = torch.topk(q, 10).indices.tolist()
    assert list(nt.top_ids) == want
    rest = torch.ones_like(q, dtype=torch.bool)
    rest[want] = False
    assert nt.model_mass_below == pytest.approx(float(q[rest].sum()), abs=1e-12)
    if top_p < 1:
        assert 0 < sum(p > 0 for p in nt.probs) < 10
    r = CliRunner().invoke(main, ["dist", "--model", path, "--prompt", "rock", "--top-k", "10", "--top-p", str(top_p),
                                  "--json"])
    out = json.loads(r.output)
    assert [t["token_id"] for t in out["top"]] == want
    assert out["mass_below"] == nt.mass_below and [t["prob"] for t in out["top"]] == list(nt.probs)


# ---- who may use the explorer (explore/guard.py): its own address, its own page, its token ----

def guarded(lm, host="127.0.0.1", port=8765, token=None, load=None):
    """A client of an explorer that listens on host:port (the address the client's requests name)."""
    app = create_app([ModelRunner(lm)], load=load, host=host, port=port, token=token)
    return TestClient(app, base_url=f"http://{f'[{host}]' if ':' in host else host}:{port}")


def refused(r, words: str) -> bool:
    return r.status_code == 403 and list(r.json()) == ["error"] and words in r.json()["error"] and \
        "\n" not in r.json()["error"]


def test_a_request_to_another_host_name_is_refused(lm):
    """DNS rebinding: a page of evil.example.com, its name pointed at 127.0.0.1, asks with its own Host."""
    with guarded(lm) as c:
        for host in ("evil.example.com", "evil.example.com:8765", "127.0.0.1:9999", "127.0.0.1.evil.com:8765",
                     "localhost:8765@evil.com", ""):
            r = c.get("/api/state", headers={"host": host})
            assert refused(r, "answers only as"), host
            assert refused(c.post("/api/next", json={"prompt": PROMPT}, headers={"host": host}), "answers only as")
        page = c.get("/", headers={"host": "evil.example.com"})
        assert page.status_code == 403 and page.text.count("\n") == 1 and "Host 'evil.example.com'" in page.text
        for host in ("127.0.0.1:8765", "localhost:8765", "LOCALHOST:8765", "[::1]:8765", "localhost.:8765"):
            assert c.get("/api/state", headers={"host": host}).status_code == 200, host
        assert c.get("/").status_code == 200 and c.get("/static/app.js").status_code == 200
    with guarded(lm, host="192.0.2.7", token="t") as c:                 # the --host given, and loopback names
        for host in ("192.0.2.7:8765", "127.0.0.1:8765"):
            assert c.get("/api/state?token=t", headers={"host": host}).status_code == 200
        assert refused(c.get("/api/state?token=t", headers={"host": "192.0.2.8:8765"}), "answers only as")


def test_a_cross_origin_post_is_refused_and_the_pages_own_is_served(lm, tmp_path):
    """A page elsewhere POSTs text/plain (no preflight) to /api/next and /api/load: 403, and nothing is loaded."""
    from logitscope.testing import save_tiny_lm
    loads = []
    other = str(save_tiny_lm(tmp_path / "m", "llama", seed=1))
    with guarded(lm, load=lambda spec, log: loads.append(spec)) as c:
        attacks = [{"origin": "http://evil.example.com"}, {"origin": "null"},
                   {"origin": "http://127.0.0.1:3000"}, {"origin": "http://localhost:8765"},
                   {"origin": "https://127.0.0.1:8765.evil.com"},
                   {"sec-fetch-site": "cross-site"}, {"sec-fetch-site": "same-site"},
                   {"origin": "http://127.0.0.1:8765", "sec-fetch-site": "cross-site"}]
        for headers in attacks:
            for path, body in (("/api/next", {"prompt": PROMPT}), ("/api/load", {"spec": other}),
                               ("/api/answers", {"prompt": PROMPT, "answers": "0-10"})):
                r = c.post(path, content=json.dumps(body), headers={"content-type": "text/plain", **headers})
                assert refused(r, "may not use this explorer"), (path, headers)
        assert loads == [] and c.get("/api/jobs/1").status_code == 404           # no load, no job started
        same = {"origin": "http://127.0.0.1:8765", "sec-fetch-site": "same-origin"}
        assert c.post("/api/next", json={"prompt": PROMPT}, headers=same).status_code == 200
        assert c.post("/api/next", json={"prompt": PROMPT}).status_code == 200     # no Origin: a program (curl)
        assert c.get("/api/state", headers={"origin": "http://evil.example.com"}).status_code == 200   # reads: CORS
        job = wait(c, c.post("/api/load", json={"spec": other}, headers=same).json())
        assert job["state"] == "error" and loads == [other]                   # the page's own load went through


def test_a_server_beyond_loopback_needs_its_token(lm):
    """--host 192.0.2.7 (or 0.0.0.0): without the printed token 403; the tokenised URL sets a cookie
    for this port, and the page's own requests then carry it."""
    token = "abc123-secret"
    for host, names in (("192.0.2.7", ["192.0.2.7:8765"]), ("0.0.0.0", ["box.lan:8765", "10.1.2.3:8765"])):
        with guarded(lm, host=host, token=token) as c:
            for name in names:
                hdr = {"host": name}
                assert refused(c.get("/api/state", headers=hdr), "needs its token")
                assert c.get("/", headers=hdr).status_code == 403
                assert refused(c.get("/api/state?token=abc123-secreT", headers=hdr), "needs its token")
                assert refused(c.get("/api/state", headers={**hdr, "authorization": "token wrong"}), "needs its token")
                assert c.get("/api/state", headers={**hdr, "authorization": f"token {token}"}).status_code == 200
                assert c.get("/api/state", headers={**hdr, "cookie": f"logitscope-explore-8765={token}"}).status_code == 200
                assert refused(c.get("/api/state", headers={**hdr, "cookie": f"logitscope-explore-9999={token}"}),
                               "needs its token")
            r = c.get(f"/?token={token}", headers={"host": names[0]})
            assert r.status_code == 200 and "logitscope explore" in r.text
            cookie = r.headers["set-cookie"]
            assert cookie.startswith(f"logitscope-explore-8765={token};") and "HttpOnly" in cookie and \
                "SameSite=Strict" in cookie
            same = {"host": names[0], "origin": f"http://{names[0]}"}
            assert c.post("/api/next", json={"prompt": PROMPT}, headers=same).status_code == 200   # the cookie
            assert c.get("/static/app.js", headers={"host": names[0]}).status_code == 200
            c.cookies.clear()
            assert refused(c.post("/api/next", json={"prompt": PROMPT}, headers=same), "needs its token")
    with guarded(lm, token=token) as c:                                   # --token on loopback: the same
        assert refused(c.get("/api/state"), "needs its token") and c.get(f"/api/state?token={token}").status_code == 200


# ---- token paths as a person reads them ----

def test_a_boundary_set_on_a_path_names_its_likeliest_tokens_at_that_step(monkeypatch):
    """A path's last step "any of N tokens that start with a boundary" names the set's most probable
    tokens at that step (at the page's T and top-p) with their share of the set's mass: against a fresh
    forward of the prompt + the path's tokens, in float64."""
    import torch

    import logitscope.kernels.engine.answers as answers_mod
    monkeypatch.setattr(answers_mod, "BIG_SET", 3)                 # tiny vocabularies have no big sets
    monkeypatch.setattr(answers_mod, "_INDEXES", {})
    lm = tiny_lm("llama", peak=3.0, seed=2)
    T, top_p = 1.3, 0.97
    with guarded(lm) as c:
        job = wait(c, c.post("/api/answers", json={"prompt": PROMPT, "infix": INFIX, "answers": "0-10",
                                                  "temperature": T, "top_p": top_p}).json())
    rec = job["result"]["record"]
    from logitscope.kernels.engine.spaces import parse_answers
    sets = answers_mod.answer_index(lm, parse_answers("0-10")).set_ids
    ids = lm.encode(PROMPT, INFIX)
    seen, named = {}, 0
    for p in rec["paths"]:
        seen[p["answer"]] = seen.get(p["answer"], 0) + 1
        if not p["set"]:
            continue
        if seen[p["answer"]] > 5:                                  # past the rows in view: not named (one
            assert p["set"]["likely"] is None                      # forward each), and no lowest ids either
            continue
        member = next(s for s in sets if len(s) == p["set"]["size"] and s[:5].tolist() == p["set"]["examples"])
        q = transform(next_logprobs(lm, [ids + p["ids"]])[0], T, top_p).double().exp()[torch.from_numpy(member)]
        order = torch.argsort(q, descending=True)[:3]
        assert [t["id"] for t in p["set"]["likely"]] == member[order.numpy()].tolist()
        for t, j in zip(p["set"]["likely"], order):
            assert t["share"] == pytest.approx(float(q[j] / q.sum()), abs=1e-6)
            assert t["piece"] == ModelRunner(lm).piece(t["id"])              # the token's text, bytes as <0xNN>
        named += 1
    assert named >= 5
    answer = next(p["answer"] for p in rec["paths"] if p["set"])
    html = job["result"]["paths_html"][answer]
    assert "likeliest here: " in html.split("<details")[0] and "e.g." not in html
    import copy

    import logitscope.explore.runner as runner_mod
    from logitscope.explore.jobs import Job
    from logitscope.explore.query import Query
    monkeypatch.setattr(runner_mod, "NAMED_MAX", 7)                # a long answer list: a bounded number named
    capped = copy.deepcopy(rec)
    ModelRunner(lm).name_sets(Query(0, PROMPT, "raw", INFIX, (), T, top_p), ids, parse_answers("0-10"), capped,
                              Job("1", "answers"))
    named = [(p["answer"], p["ids"]) for p in capped["paths"] if p["set"] and p["set"]["likely"]]
    in_view = [(p["answer"], p["ids"]) for a in sorted(rec["answers"], key=lambda a: -rec["answers"][a])
               for p in [p for p in rec["paths"] if p["answer"] == a][:5] if p["set"]]
    assert sorted(named) == sorted(in_view[:7])                   # the rows in view of the likeliest answers


def test_a_byte_of_a_split_character_shows_as_its_byte_with_a_legend(lm):
    """A token that is one byte of a multi-byte character ("—" is E2 80 94) reads <0xE2>, not U+FFFD."""
    runner = ModelRunner(lm)
    ids = [lm.tokenizer.convert_tokens_to_ids(t) for t in ("â", "Ģ")]
    assert lm.tokenizer.decode([ids[0]]) == "\ufffd"
    assert runner.piece(ids[0]) == "<0xE2>" and runner.piece(ids[1]) == "<0x80>"
    assert runner.piece(lm.tokenizer.convert_tokens_to_ids("Ġ")) == " "           # whole text stays text
    rec = {"answers": {"x": 0.5}, "paths": [{"answer": "x", "ids": ids, "pieces": [runner.piece(i) for i in ids],
                                             "set": None, "prob": 0.5}]}
    html = paths_html(rec, "x")
    assert html.count('<span class="ls-byte">&lt;0xE2&gt;</span>') == 2            # the chip and the legend
    assert "one byte of a character split across tokens" in html and "\ufffd" not in html
    plain = {**rec, "paths": [{**rec["paths"][0], "pieces": ["a", "b"]}]}
    assert "class=\"ls-byte\"" not in paths_html(plain, "x")                          # no bytes, no legend


def test_paths_after_the_first_few_fold_under_one_line_that_says_what_they_carry():
    probs = [0.2 / 2 ** j for j in range(30)]
    rec = {"answers": {"x": sum(probs)}, "paths": [{"answer": "x", "ids": [j], "set": None, "prob": p}
                                                   for j, p in enumerate(probs)]}
    html = paths_html(rec, "x")
    top, folded = html.split("<details", 1)
    assert len(data_of(top, "ls-path")) == 5 and len(data_of(folded, "ls-path")) == 20       # 25 shown in all
    assert len(data_of(folded, "ls-below")) == 1 and "5 more paths" in folded                 # the rest, summed
    mass = sum(probs[5:])
    assert f"show the next 20 paths (the 25 after the first 5 carry {mass:.4f}, {mass / sum(probs):.1%} of P(x))" in folded
    assert "show the next 3 paths (the 3 after" in paths_html({**rec, "paths": rec["paths"][:8]}, "x")
    few = {**rec, "paths": rec["paths"][:5]}
    assert "<details" not in paths_html(few, "x") and len(data_of(paths_html(few, "x"), "ls-path")) == 5


def test_next_token_names_byte_tokens_as_bytes():
    """A token that is one byte of a character (é split in two byte-level tokens) is written <0xC3>,
    not U+FFFD, in the next-token record and its view, with the legend; whole tokens are unchanged."""
    from logitscope import next_token
    from logitscope.kernels.engine.vocab import token_text
    from logitscope.testing import bytelevel_tokenizer, tiny_lm
    tok = bytelevel_tokenizer()
    ids = tok.encode("é", add_special_tokens=False)
    assert [tok.decode([i]) for i in ids] == ["\ufffd", "\ufffd"]
    assert [token_text(tok, i) for i in ids] == ["<0xC3>", "<0xA9>"]
    whole = tok.encode("rock", add_special_tokens=False)[0]
    assert token_text(tok, whole) == tok.decode([whole]) == "rock"
    nt = next_token(tiny_lm("llama", tok), "Move: é")
    assert nt.pieces[-2:] == ("<0xC3>", "<0xA9>") and "\ufffd" not in "".join(nt.pieces + nt.top_pieces)
    page = nt._repr_html_()
    assert page.count('class="ls-byte"') >= 2 and "one byte of a character" in page
