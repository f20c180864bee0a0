"""The explorer's jobs can be cancelled (`POST /api/jobs/<id>/cancel`, the page's Cancel button): a
running readout or sample stops before its next forward pass or token and lets the model go at once;
a job still waiting for the model leaves the queue at once. And one Ctrl-C stops `probe explore`
while a job is in the middle of a forward pass, with one line."""
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

from logitscope.kernels.engine.forward import body_and_head
from logitscope.testing import save_tiny_lm, tiny_lm

pytest.importorskip("starlette", reason='the explorer needs its extra: pip install -e ".[explore]"')
from starlette.testclient import TestClient  # noqa: E402

from logitscope.explore.app import create_app  # noqa: E402
from logitscope.explore.runner import ModelRunner  # noqa: E402

PROMPT = "Pick a number"
LOCAL = "http://127.0.0.1:8765"


def in_a_job() -> bool:
    return threading.current_thread().name.startswith("explore-")


@pytest.fixture
def held():
    """A client of an explorer whose model's body, in every forward a job makes, waits at a gate the
    test opens (`c.gate`); `c.inside` is set once a job's forward is under way, `c.finished` counts the
    forwards that ended (the page's own next-token requests pass freely)."""
    lm = tiny_lm("llama", peak=3.0, seed=2)
    gate, inside, finished = threading.Event(), threading.Event(), []

    def enter(*_):
        if in_a_job():
            inside.set()
            gate.wait(30)

    def leave(*_):
        if in_a_job():
            finished.append(time.monotonic())
    body = body_and_head(lm.model)[0]
    body.register_forward_pre_hook(enter)
    body.register_forward_hook(leave)
    with TestClient(create_app([ModelRunner(lm)]), base_url=LOCAL) as c:
        c.gate, c.inside, c.finished = gate, inside, finished
        try:
            yield c
        finally:                                            # no job thread left in torch when pytest exits
            c.app.state.explorer.stop()
            gate.set()
            assert c.app.state.explorer.jobs.wait(20)


def poll(c, job_id: str, until, timeout: float = 20.0) -> dict:
    t0 = time.monotonic()
    while True:
        job = c.get(f"/api/jobs/{job_id}").json()
        if until(job):
            return job
        assert time.monotonic() - t0 < timeout, job
        time.sleep(0.02)


def ended(c, job_id: str) -> dict:
    return poll(c, job_id, lambda j: j["state"] != "running")


@pytest.mark.parametrize("path,body", [("/api/sample", {"max_new_tokens": 512}),
                                       ("/api/answers", {"answers": "0-10", "min_mass": 1e-9})])
def test_a_running_job_is_cancelled_and_frees_the_model_at_once(held, path, body):
    """Cancelled in the middle of its first forward pass: that pass ends, no other begins, the job
    ends "cancelled" with one line and the model answers the page at once."""
    job = held.post(path, json={"prompt": PROMPT, **body}).json()
    assert held.inside.wait(10)
    r = held.post(f"/api/jobs/{job['job']}/cancel")
    assert r.status_code == 200 and r.json()["state"] == "running" and r.json()["progress"].startswith("cancelling")
    held.gate.set()                                         # the forward under way ends
    t0 = time.monotonic()
    job = ended(held, job["job"])
    assert job["state"] == "cancelled" and time.monotonic() - t0 < 1.0, job
    assert job["error"].startswith("cancelled after ") and "\n" not in job["error"] and "result" not in job
    assert len(held.finished) <= 1                         # no forward after the one under way
    t0 = time.monotonic()
    r = held.post("/api/next", json={"prompt": PROMPT})    # the model is free: no wait behind the job
    assert r.status_code == 200 and time.monotonic() - t0 < 1.0
    assert held.post(f"/api/jobs/{job['job']}/cancel").json()["state"] == "cancelled"   # a second cancel: no change


def test_a_job_waiting_for_the_model_is_cancelled_at_once_and_a_finished_one_stays(held):
    first = held.post("/api/sample", json={"prompt": PROMPT, "max_new_tokens": 512}).json()
    assert held.inside.wait(10)                             # the first job holds the model, inside a forward
    queued = held.post("/api/sample", json={"prompt": PROMPT, "seed": 1}).json()
    assert held.get(f"/api/jobs/{queued['job']}").json()["progress"] == "waiting for the model"
    t0 = time.monotonic()
    held.post(f"/api/jobs/{queued['job']}/cancel")
    assert ended(held, queued["job"])["state"] == "cancelled" and time.monotonic() - t0 < 1.0
    assert held.get(f"/api/jobs/{first['job']}").json()["state"] == "running"      # still in its forward
    held.post(f"/api/jobs/{first['job']}/cancel")
    held.gate.set()
    assert ended(held, first["job"])["state"] == "cancelled"
    done = ended(held, held.post("/api/sample", json={"prompt": PROMPT, "max_new_tokens": 3}).json()["job"])
    assert done["state"] == "done"
    assert held.post(f"/api/jobs/{done['job']}/cancel").json()["state"] == "done"
    r = held.post("/api/jobs/999/cancel")
    assert r.status_code == 404 and "no job 999" in r.json()["error"]
    r = held.post(f"/api/jobs/{done['job']}/cancel", headers={"origin": "http://evil.example.com"})
    assert r.status_code == 403                             # another site's page cannot cancel either


def test_a_load_cancelled_while_reading_drops_the_model(tmp_path):
    other = str(save_tiny_lm(tmp_path / "m", "llama", seed=1))
    reading, go_on = threading.Event(), threading.Event()

    def load(spec, log):
        from logitscope.kernels.models.loading import load_model
        reading.set()
        go_on.wait(10)                                      # the weights are being read
        return load_model(spec, log=log)
    with TestClient(create_app([], load=load), base_url=LOCAL) as c:
        job = c.post("/api/load", json={"spec": other}).json()
        assert reading.wait(10)
        assert "cancelling" in c.post(f"/api/jobs/{job['job']}/cancel").json()["progress"]
        go_on.set()
        assert poll(c, job["job"], lambda j: j["state"] != "running")["state"] == "cancelled"
        assert c.get("/api/state").json()["models"] == []


# ---- Ctrl-C with a job in a forward pass: the real command in a subprocess ----

SLOW_EXPLORE = """
import sys, threading, time
import torch
import logitscope.explore.runner as runner
made = runner.ModelRunner.__init__
def slow(self, lm):     # every forward a job makes computes for a minute inside the model, and says so
    made(self, lm)
    def hook(*_):
        if threading.current_thread().name.startswith("explore-"):
            print("in a forward", flush=True)
            a, end = torch.randn(400, 400), time.monotonic() + 60
            while time.monotonic() < end:       # torch at work in this thread (not asleep in Python)
                a = (a @ a).tanh()
    lm.model.model.register_forward_pre_hook(hook)
runner.ModelRunner.__init__ = slow
from logitscope.cli.main import main
main(["explore", *sys.argv[1:]])
"""


def _post(url: str, body: dict):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())
    except OSError as e:                                    # the server went away mid-request
        return None, str(e)


def test_one_ctrl_c_stops_the_server_while_a_job_is_in_a_forward_pass(tmp_path):
    model = str(save_tiny_lm(tmp_path / "m", "llama", seed=1))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-c", SLOW_EXPLORE, "--model", model, "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "LOGITSCOPE_QUIET": "1"})
    try:
        line = proc.stdout.readline()
        assert line.startswith("logitscope explore: http://"), line + proc.stderr.read()
        url = line.split()[2]
        status, job = _post(url + "api/sample", {"prompt": PROMPT, "max_new_tokens": 64})
        assert status == 200 and job["state"] == "running"
        assert proc.stdout.readline() == "in a forward\n"       # the job's thread is inside the model now
        waiting = []                                            # and a page's request waits for the model
        asker = threading.Thread(target=lambda: waiting.append(_post(url + "api/next", {"prompt": PROMPT})))
        asker.start()
        time.sleep(0.5)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
        took = time.monotonic() - t0
        asker.join(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert err.strip() == "logitscope explore stopped" and proc.returncode == 130, err
    assert took < 10, took                                      # the job's forward would take 60 s
    assert waiting and waiting[0][0] in (503, None), waiting       # told the explorer is stopping, not left hanging
