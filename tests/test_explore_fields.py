"""What the explorer says when a request is refused: the line names the field as the page labels its
input ("Tokens shown", not `k`) and the answer carries the API's field name for programs; min_mass
takes the CLI's declared range (0 < m < 1, `limits.MIN_MASS`); a model path that is a file says so;
and the guard's own refusals say what it checks (an https Origin is another site; on every address
only the port is checked)."""
import json
import re
import time
from html.parser import HTMLParser

import pytest

from logitscope import limits
from logitscope.testing import tiny_lm

pytest.importorskip("starlette", reason='the explorer needs its extra: pip install -e ".[explore]"')
from starlette.testclient import TestClient  # noqa: E402

from logitscope.explore.app import STATIC, create_app  # noqa: E402
from logitscope.explore.query import LABELS  # noqa: E402
from logitscope.explore.runner import ModelRunner  # noqa: E402

PROMPT = "Pick a number"
LOCAL = "http://127.0.0.1:8765"


@pytest.fixture(scope="module")
def lm():
    return tiny_lm("llama", peak=3.0, seed=2)


@pytest.fixture(scope="module")
def client(lm):
    from logitscope.kernels.models.loading import load_model
    with TestClient(create_app([ModelRunner(lm)], load=lambda spec, log: load_model(spec, log=log)),
                    base_url=LOCAL) as c:
        yield c


def wait(c, job: dict) -> dict:
    t0 = time.monotonic()
    while job["state"] == "running":
        assert time.monotonic() - t0 < 60
        time.sleep(0.05)
        job = c.get(f"/api/jobs/{job['job']}").json()
    return job


class Labels(HTMLParser):
    """Each input's label on the page: the text of the <label> around it (or its aria-label)."""

    def __init__(self):
        super().__init__()
        self.labels, self._text = {}, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "label":
            self._text = ""
        elif tag in ("input", "select", "textarea") and "id" in a:
            self.labels[a["id"]] = a.get("aria-label") or (self._text or "").strip()

    def handle_data(self, data):
        if self._text is not None:
            self._text += data

    def handle_endtag(self, tag):
        if tag == "label":
            self._text = None


def page_fields() -> dict:
    """The page script's map from an API field to the input it marks (static/app.js, FIELDS)."""
    js = (STATIC / "app.js").read_text()
    body = re.search(r"const FIELDS = \{(.*?)\};", js, re.S).group(1)
    return dict(re.findall(r"(\w+): \"([\w-]+)\"", body))


def test_each_field_the_page_marks_is_named_in_errors_as_the_page_labels_it():
    parser = Labels()
    parser.feed((STATIC / "index.html").read_text())
    fields = page_fields()
    assert set(fields) <= set(LABELS) and {"k", "min_mass", "temperature", "answers", "spec"} <= set(fields)
    assert {f: parser.labels[i] for f, i in fields.items()} == {f: LABELS[f] for f in fields}


REFUSED = [  # (path, body, the field, the line)
    ("/api/next", {"prompt": PROMPT, "k": 0}, "k", "Tokens shown must be a whole number in [1, 200] (got 0)"),
    ("/api/next", {"prompt": PROMPT, "temperature": 0}, "temperature", "Temperature must be a number in [0.01, 100]"),
    ("/api/next", {"prompt": PROMPT, "top_p": "most"}, "top_p", 'top-p must be a number (got "most")'),
    ("/api/next", {"prompt": "  "}, "prompt", "empty prompt"),
    ("/api/next", {"prompt": "word " * 1000}, "prompt", "takes at most 2048"),
    ("/api/next", {"prompt": PROMPT, "format": "xml"}, "format", "unknown format 'xml'"),
    ("/api/answers", {"prompt": PROMPT, "answers": "0-1O"}, "answers", "unknown answer set '0-1O'"),
    ("/api/answers", {"prompt": PROMPT, "answers": "7, 7."}, "answers", "overlap"),
    ("/api/answers", {"prompt": PROMPT, "answers": "0-10", "min_mass": ""}, "min_mass",
     'Prune below must be a number (got "")'),
    ("/api/sample", {"prompt": PROMPT, "seed": -1}, "seed", "Seed must be a whole number in [0, 4,294,967,295]"),
    ("/api/sample", {"prompt": PROMPT, "max_new_tokens": 0}, "max_new_tokens", "New tokens must be a whole number"),
    ("/api/load", {"spec": " "}, "spec", "give a model"),
]


@pytest.mark.parametrize("path,body,field,words", REFUSED, ids=[f"{r[0]}:{r[2]}" for r in REFUSED])
def test_a_refused_field_is_named_by_its_label_and_the_answer_says_which(client, path, body, field, words):
    r = client.post(path, json=body)
    assert r.status_code == 400 and r.json()["field"] == field and set(r.json()) == {"error", "field"}, r.text
    assert words in r.json()["error"] and "\n" not in r.json()["error"] and f"'{field}'" not in r.json()["error"]


@pytest.mark.parametrize("value", [0, 0.0, 1, 1.5, -1e-6])
def test_min_mass_takes_the_clis_range_and_reason(client, value):
    """0 never prunes (the tree has no end, and the model's lock was held for good): refused as the CLI
    refuses --min-mass 0, with the same range and reason."""
    r = client.post("/api/answers", json={"prompt": PROMPT, "answers": "0-10", "min_mass": value})
    assert r.status_code == 400 and r.json() == {"error": limits.MIN_MASS.message(json.dumps(value), "Prune below"),
                                                 "field": "min_mass"}
    assert limits.MIN_MASS.why in r.json()["error"] and "(0, 1)" in r.json()["error"]


def test_a_min_mass_inside_the_range_reads_the_answers(client):
    job = wait(client, client.post("/api/answers", json={"prompt": PROMPT, "answers": "0-10", "min_mass": 0.5}).json())
    rec = job["result"]["record"]
    assert job["state"] == "done" and rec["valid_mass"] + rec["invalid_mass"] + rec["unexplored_mass"] == \
        pytest.approx(1, abs=1e-5)


def test_loading_a_file_from_the_page_says_it_is_a_file(client, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("not a model\n")
    job = wait(client, client.post("/api/load", json={"spec": str(readme)}).json())
    assert job["state"] == "error" and job["field"] == "spec", job
    assert f"{readme} is a file, not a model directory" in job["error"] and "no such" not in job["error"]
    job = wait(client, client.post("/api/load", json={"spec": str(tmp_path / "missing")}).json())
    assert job["state"] == "error" and "no such model directory" in job["error"]


# ---- the guard's refusals ----

def guarded(lm, host="127.0.0.1", port=8765, token=None):
    app = create_app([ModelRunner(lm)], host=host, port=port, token=token)
    return TestClient(app, base_url=f"http://{host}:{port}")


def test_an_https_origin_is_another_site_on_the_http_server(lm):
    with guarded(lm) as c:
        for origin in ("https://127.0.0.1:8765", "https://localhost:8765"):
            host = origin.split("//")[1]
            r = c.post("/api/next", json={"prompt": PROMPT}, headers={"origin": origin, "host": host})
            assert r.status_code == 403 and "cross-origin" in r.json()["error"], origin
        same = {"origin": "http://127.0.0.1:8765", "host": "127.0.0.1:8765"}
        assert c.post("/api/next", json={"prompt": PROMPT}, headers=same).status_code == 200


def test_on_every_address_the_refusal_says_only_the_port_is_checked(lm):
    """--host 0.0.0.0 answers any name with its port (its token guards it): a wrong port is refused with
    what is checked, not a list of names that any other name would pass as well."""
    with guarded(lm, host="0.0.0.0", token="t") as c:
        assert c.get("/api/state?token=t", headers={"host": "anything.example:8765"}).status_code == 200
        r = c.get("/api/state?token=t", headers={"host": "box.lan:9999"})
        assert r.status_code == 403 and "\n" not in r.json()["error"]
        assert r.json()["error"] == ("refused: this explorer listens on every address and answers any host name "
                                     "with port 8765, not Host 'box.lan:9999'")
    with guarded(lm) as c:                                      # loopback: the names it answers as, listed
        r = c.get("/api/state", headers={"host": "box.lan:8765"})
        assert r.status_code == 403 and "answers only as 127.0.0.1:8765 or [::1]:8765 or localhost:8765" in \
            r.json()["error"]

