"""Long work (exact readouts, sampling, loading a model) as jobs the page polls: each runs in its own
(daemon) thread, says how far it got in a line of progress, and ends with a result, one error
message, or "cancelled": a job asked to stop (`Job.cancel`, the page's Cancel button, a stopping
server) raises `Cancelled` at its next checkpoint (`Job.check`: before each forward pass and each
sampled token), so the model's lock is free again at once."""
from __future__ import annotations

import itertools
import sys
import threading
import time
import traceback
from collections import OrderedDict

from ..errors import UserError

KEEP = 64


class Cancelled(Exception):
    """A job's work stopped because someone asked it to (not an error of the work)."""


class Job:
    def __init__(self, job_id: str, kind: str):
        self.id, self.kind = job_id, kind
        self.state, self.progress, self.result, self.error = "running", "waiting for the model", None, None
        self.field = None                      # the request's field an error is about (FieldError)
        self.cancelled = False                 # a plain flag: set from a signal handler too
        self.started = time.monotonic()
        self.ended = None
        self.thread = None

    def say(self, progress: str) -> None:
        self.progress = progress

    def cancel(self) -> None:
        """Ask the work to stop at its next checkpoint (a finished job stays as it ended)."""
        if self.state == "running":
            self.cancelled = True

    def check(self) -> None:
        """A checkpoint of the work: raises `Cancelled` once the job is asked to stop."""
        if self.cancelled:
            raise Cancelled()

    def to_json(self) -> dict:
        seconds = (self.ended or time.monotonic()) - self.started
        running = self.state == "running"
        progress = f"cancelling ({self.progress})" if running and self.cancelled else self.progress
        out = {"job": self.id, "kind": self.kind, "state": self.state, "progress": progress,
               "seconds": round(seconds, 1)}
        if self.state == "done":
            out["result"] = self.result
        elif self.state in ("error", "cancelled"):
            out["error"] = self.error
            if self.field:
                out["field"] = self.field
        return out

    def _end(self, state: str, error: str | None = None) -> None:
        self.error, self.ended = error, time.monotonic()
        self.state = state                     # last: a poll that sees the state sees the rest


class Jobs:
    """The jobs of one server, the newest `KEEP` kept."""

    def __init__(self):
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    def start(self, kind: str, work) -> Job:
        """Run `work(job)` in a thread; its return value is the job's result, a `UserError` its
        message, `Cancelled` ends it as "cancelled"; any other exception is reported as an internal
        error (traceback on stderr)."""
        with self._lock:
            job = Job(str(next(self._ids)), kind)
            self._jobs[job.id] = job
            while len(self._jobs) > KEEP:
                self._jobs.popitem(last=False)

        def run():
            try:
                job.result = work(job)
                job._end("done")
            except Cancelled:
                job._end("cancelled", f"cancelled after {time.monotonic() - job.started:.1f} s")
            except UserError as exc:
                job.field = getattr(exc, "field", None)
                job._end("error", str(exc))
            except Exception as exc:                       # the server keeps serving; the page says what broke
                traceback.print_exc(file=sys.stderr)
                job._end("error", f"internal error: {type(exc).__name__}: {exc}".splitlines()[0])
        job.thread = threading.Thread(target=run, name=f"explore-{kind}-{job.id}", daemon=True)
        job.thread.start()
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def cancel_all(self) -> None:
        """Every running job asked to stop (a stopping server). No lock taken: safe in a signal handler."""
        for job in list(self._jobs.values()):
            job.cancel()

    def wait(self, seconds: float) -> bool:
        """Wait up to `seconds` in all for the jobs' threads to end; whether they all did."""
        deadline = time.monotonic() + seconds
        threads = [j.thread for j in list(self._jobs.values()) if j.thread is not None]
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in threads)
