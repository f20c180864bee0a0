"""The explorer's page as a person sees it when something is refused or takes too long (Selenium with
the system Chromium, the real command in a subprocess): an error stays on the page, on the input it
is about, until that input changes (a next-token refresh that ends later does not wipe it), and a
running job has a Cancel button that ends it; a job whose result the page would throw away (the
prompt moved on) is cancelled by the page itself. Screenshots go to $LOGITSCOPE_SCREENSHOTS."""
import os
import socket
import subprocess
import sys
import time

import pytest

from logitscope.testing import save_tiny_lm
import test_explore_browser as tb
from test_explore_browser import _get, browser, stop, type_into, until

driver, shots = tb.driver, tb.shots                      # the browser and the screenshots' folder (fixtures)

# `probe explore` whose jobs never finish by themselves: each forward a job makes waits (up to a
# minute) inside the model until the job is cancelled; the page's own next-token requests pass freely
STUCK_EXPLORE = """
import sys, threading, time
import logitscope.explore.jobs as jobs
import logitscope.explore.runner as runner
mine, start, made = {}, jobs.Jobs.start, runner.ModelRunner.__init__
def started(self, kind, work):
    def named(job):
        mine[threading.current_thread().name] = job
        return work(job)
    return start(self, kind, named)
def stuck(self, lm):
    made(self, lm)
    def hook(*_):
        job, end = mine.get(threading.current_thread().name), time.monotonic() + 60
        while job is not None and not job.cancelled and time.monotonic() < end:
            time.sleep(0.05)
    lm.model.model.register_forward_pre_hook(hook)
jobs.Jobs.start, runner.ModelRunner.__init__ = started, stuck
from logitscope.cli.main import main
main(["explore", *sys.argv[1:]])
"""


@pytest.fixture(scope="module")
def stuck(tmp_path_factory):
    model = str(save_tiny_lm(tmp_path_factory.mktemp("explore") / "m", "llama", peak=3.0, seed=2))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-c", STUCK_EXPLORE, "--model", model, "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "LOGITSCOPE_QUIET": "1"})
    try:
        line = proc.stdout.readline()
        assert line.startswith("logitscope explore: http://"), line + proc.stderr.read()
        yield line.split()[2]
    finally:
        stop(proc)


ERRORS = "[...document.querySelectorAll('#error div')].map(e => e.textContent)"
INVALID = "[...document.querySelectorAll('.invalid')].map(e => e.id)"


@browser
def test_an_error_stays_on_its_input_until_that_input_changes(stuck, driver, shots):
    from selenium.webdriver.common.by import By
    d = driver
    d.get(stuck)
    until(d, "window.explore.columns.length === 1 && window.explore.columns[0].next")
    type_into(d, "answers", "0-1O")
    d.find_element(By.ID, "read-answers").click()
    until(d, "!document.getElementById('error').hidden")
    type_into(d, "k", "5")                                   # a next-token refresh that ends after the 400
    until(d, "window.explore.columns[0].next.top.length === 5")
    time.sleep(0.3)
    errors = d.execute_script(f"return {ERRORS}")
    assert len(errors) == 1 and "unknown answer set '0-1O'" in errors[0], errors
    assert d.execute_script(f"return {INVALID}") == ["answers"]
    type_into(d, "k", "0")                                   # the page's label, not the API's field
    until(d, f"{ERRORS}.length === 2")
    errors = d.execute_script(f"return {ERRORS}")
    assert any(e.endswith("Tokens shown must be a whole number in [1, 200] (got 0)") for e in errors), errors
    assert sorted(d.execute_script(f"return {INVALID}")) == ["answers", "k"]
    type_into(d, "answers", "0-10")                          # that input changed: its error goes, the other stays
    until(d, f"{ERRORS}.length === 1")
    assert d.execute_script(f"return {INVALID}") == ["k"]
    type_into(d, "min-mass", "0")
    d.find_element(By.ID, "read-answers").click()
    until(d, f"{ERRORS}.length === 2")
    assert any("Prune below must be a number in (0, 1) (got 0): branches lighter" in e
               for e in d.execute_script(f"return {ERRORS}"))
    assert sorted(d.execute_script(f"return {INVALID}")) == ["k", "min-mass"]
    d.save_screenshot(str(shots / "explore-9-errors-on-their-inputs.png"))
    type_into(d, "k", "10")
    type_into(d, "min-mass", "1e-6")
    until(d, "document.getElementById('error').hidden")
    until(d, "window.explore.columns[0].next.top.length === 10")
    assert d.execute_script(f"return {INVALID}") == []


@browser
def test_a_running_job_has_a_cancel_button_and_a_stale_one_is_cancelled_by_the_page(stuck, driver, shots):
    from selenium.webdriver.common.by import By
    d = driver
    d.get(stuck)
    until(d, "window.explore.columns.length === 1 && window.explore.columns[0].next")
    d.find_element(By.ID, "read-answers").click()
    button = "document.querySelector('#progress .busy .cancel')"
    until(d, f"{button} && !{button}.hidden && /forward passes|reading/.test(document.getElementById('progress').textContent)")
    d.save_screenshot(str(shots / "explore-10-cancel-button.png"))
    job = d.execute_script("return document.querySelector('#progress .busy').dataset.job")
    t0 = time.monotonic()
    d.find_element(By.CSS_SELECTOR, "#progress .busy .cancel").click()
    until(d, "document.querySelector('.column .answers').textContent.includes('cancelled after')", timeout=10)
    assert time.monotonic() - t0 < 5 and d.execute_script("return document.getElementById('progress').textContent") == ""
    assert _get(stuck + f"api/jobs/{job}")[1]["state"] == "cancelled"
    assert d.execute_script("return document.getElementById('error').hidden")     # a cancel is no error
    d.save_screenshot(str(shots / "explore-11-cancelled.png"))

    d.find_element(By.ID, "sample").click()                  # a sample, then a token chosen: its result is moot
    until(d, f"{button} && document.querySelector('#progress .busy').dataset.job")
    job = d.execute_script("return document.querySelector('#progress .busy').dataset.job")
    d.find_elements(By.CSS_SELECTOR, ".column .next tr.ls-tok-row")[1].click()
    until(d, "window.explore.columns[0].next.ids.length > 0 && window.explore.columns[0].branch.length === 1")
    t0 = time.monotonic()
    while _get(stuck + f"api/jobs/{job}")[1]["state"] == "running":
        assert time.monotonic() - t0 < 10
        time.sleep(0.1)
    assert _get(stuck + f"api/jobs/{job}")[1]["state"] == "cancelled"
    until(d, "document.getElementById('progress').textContent === ''")
    assert d.execute_script("return window.explore.columns[0].sample") is None
