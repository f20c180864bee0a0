"""Long work (exact readouts, sampling, loading a model) as jobs the page polls: each runs in its own
thread, says how far it got in a line of progress, and ends with a result or one error message."""
from __future__ import annotations

import itertools
import sys
import threading
import time
import traceback
from collections import OrderedDict

from ..errors import UserError

KEEP = 64


class Job:
    def __init__(self, job_id: str, kind: str):
        self.id, self.kind = job_id, kind
        self.state, self.progress, self.result, self.error = "running", "waiting for the model", None, None
        self.started = time.monotonic()

    def say(self, progress: str) -> None:
        self.progress = progress

    def to_json(self) -> dict:
        out = {"job": self.id, "kind": self.kind, "state": self.state, "progress": self.progress,
               "seconds": round(time.monotonic() - self.started, 1)}
        if self.state == "done":
            out["result"] = self.result
        elif self.state == "error":
            out["error"] = self.error
        return out


class Jobs:
    """The jobs of one server, the newest `KEEP` kept."""

    def __init__(self):
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    def start(self, kind: str, work) -> Job:
        """Run `work(job)` in a thread; its return value is the job's result, a `UserError` its
        message; any other exception is reported as an internal error (traceback on stderr)."""
        with self._lock:
            job = Job(str(next(self._ids)), kind)
            self._jobs[job.id] = job
            while len(self._jobs) > KEEP:
                self._jobs.popitem(last=False)

        def run():
            try:
                job.result = work(job)
                job.state = "done"
            except UserError as exc:
                job.error, job.state = str(exc), "error"
            except Exception as exc:                       # the server keeps serving; the page says what broke
                traceback.print_exc(file=sys.stderr)
                job.error, job.state = f"internal error: {type(exc).__name__}: {exc}".splitlines()[0], "error"
        threading.Thread(target=run, name=f"explore-{kind}-{job.id}", daemon=True).start()
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)
