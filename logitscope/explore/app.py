"""The explorer's routes (Starlette): the page and its static files, and JSON routes that answer with
the Python API's records and their views. A bad request gets a 4xx with one `error` line (and the
`field` it is about, where it is about one) and the server keeps serving; model work runs in a
thread (sync work off the event loop) under the model's lock; exact readouts, samples and loads are
jobs the page polls for progress and can cancel (`POST /api/jobs/<id>/cancel`)."""
from __future__ import annotations

import sys
import threading
import traceback
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .. import limits
from ..errors import UserError
from ..views.common import STYLE as VIEWS_STYLE
from .guard import Guard
from .jobs import Cancelled, Jobs
from .query import (NEW_TOKENS, SEED, TOP_K, FieldError, about, answer_space, number, parse_body,
                    parse_query)
from .runner import ModelRunner
from ..views.sample import STYLE as SAMPLE_STYLE

STATIC = Path(__file__).parent / "static"
MAX_BODY = 1 << 20
MAX_MODELS = 2


class NotFound(Exception):
    pass


class Explorer:
    """The server's state: the loaded models (at most two, each loaded once) and the jobs."""

    def __init__(self, runners: list[ModelRunner], load=None):
        self.runners = list(runners)
        self.jobs = Jobs()
        self.load = load                      # spec -> LM, for models loaded from the page
        self._loading = threading.Lock()

    def state(self, body) -> dict:
        return {"models": [r.info() for r in self.runners], "max_models": MAX_MODELS,
                "can_load": self.load is not None and len(self.runners) < MAX_MODELS}

    def next(self, body) -> dict:
        q = parse_query(body, len(self.runners))
        return self.runners[q.model].next(q, number(body, "k", 20, TOP_K))

    def answers(self, body) -> dict:
        q = parse_query(body, len(self.runners))
        with about("answers"):
            space = answer_space(body.get("answers"))
        min_mass = number(body, "min_mass", 1e-6, limits.MIN_MASS)
        runner = self.runners[q.model]
        runner.check_answers(space)
        return self.jobs.start("answers", lambda job: runner.answers(q, space, min_mass, job)).to_json()

    def sample(self, body) -> dict:
        q = parse_query(body, len(self.runners))
        seed = number(body, "seed", 0, SEED)
        n = number(body, "max_new_tokens", 32, NEW_TOKENS)
        runner = self.runners[q.model]
        return self.jobs.start("sample", lambda job: runner.sample(q, seed, n, job)).to_json()

    def load_model(self, body) -> dict:
        spec = body.get("spec")
        if self.load is None:
            raise UserError("this explorer loads no models from the page")
        if not isinstance(spec, str) or not spec.strip():
            raise FieldError("spec", "give a model: embedded:base, embedded:aligned, a model directory, a .gguf file or a hub id")
        if len(self.runners) >= MAX_MODELS:
            raise UserError(f"{MAX_MODELS} models are loaded already (one load per model and process)")
        if any(r.lm.spec == spec.strip() for r in self.runners):
            raise FieldError("spec", f"{spec.strip()} is loaded already")

        def work(job):
            with self._loading:
                if len(self.runners) >= MAX_MODELS:
                    raise UserError(f"{MAX_MODELS} models are loaded already")
                job.check()
                job.say("reading the weights (a cancel takes effect when they are read)")
                with about("spec"):
                    lm = self.load(spec.strip(), log=job.say)
                    if getattr(lm, "is_oracle", False):
                        raise UserError("the uniform oracle has no next-token distribution to explore")
                job.check()                       # cancelled while reading: the model is dropped
                self.runners.append(ModelRunner(lm))
                return {"model": len(self.runners) - 1, **self.runners[-1].info()}
        return self.jobs.start("load", work).to_json()

    def job(self, job_id: str) -> dict:
        return self._job(job_id).to_json()

    def cancel(self, job_id: str) -> dict:
        """Ask a job to stop (it ends "cancelled" at its next forward pass or token; a finished job
        stays as it ended): the job as it is now."""
        job = self._job(job_id)
        job.cancel()
        return job.to_json()

    def _job(self, job_id: str):
        job = self.jobs.get(job_id)
        if job is None:
            raise NotFound(f"no job {job_id} (finished jobs are kept for a while, then forgotten)")
        return job

    def stop(self) -> None:
        """The server stops (Ctrl-C): every job cancelled, no request waits for a model any more.
        Sets flags only (called from a signal handler)."""
        self.jobs.cancel_all()
        for r in self.runners:
            r.close()


def _error(status: int, message: str, field: str | None = None) -> JSONResponse:
    return JSONResponse({"error": message, **({"field": field} if field else {})}, status_code=status)


def _route(method):
    """A JSON endpoint: the body read and checked, the work run in a thread, errors as one line."""
    async def endpoint(request):
        try:
            raw = await request.body() if request.method == "POST" else b"{}"
            if len(raw) > MAX_BODY:
                return _error(413, f"the request is {len(raw):,} bytes; the explorer takes at most {MAX_BODY:,}")
            body = parse_body(raw)
            if "job_id" in request.path_params:
                return JSONResponse(await run_in_threadpool(method, request.path_params["job_id"]))
            return JSONResponse(await run_in_threadpool(method, body))
        except UserError as exc:
            return _error(400, str(exc), getattr(exc, "field", None))
        except Cancelled:
            return _error(503, "the explorer is stopping")
        except NotFound as exc:
            return _error(404, str(exc))
        except Exception as exc:                      # a bug: say so in one line, keep serving
            traceback.print_exc(file=sys.stderr)
            return _error(500, f"internal error: {type(exc).__name__}: {exc}".splitlines()[0])
    return endpoint


async def _http_error(request, exc: HTTPException):
    messages = {404: f"no such page: {request.url.path}", 405: f"{request.method} is not allowed on {request.url.path}"}
    return _error(exc.status_code, messages.get(exc.status_code, str(exc.detail)))


def create_app(runners: list[ModelRunner], load=None, *, host: str = "127.0.0.1", port: int | None = None,
               token: str | None = None) -> Starlette:
    """The explorer for these models; `load(spec, log=...) -> LM` lets the page load more (up to two).
    `host`, `port`, `token`: where it listens and its secret, for the guard (`guard.Guard`) that
    answers only requests to that address from its own page (or from programs), with the token."""
    ex = Explorer(runners, load)

    async def index(request):
        return FileResponse(STATIC / "index.html")

    async def css(request):
        return Response(VIEWS_STYLE + SAMPLE_STYLE, media_type="text/css")

    routes = [Route("/", index), Route("/views.css", css),
              Route("/api/state", _route(ex.state), methods=["GET"]),
              Route("/api/next", _route(ex.next), methods=["POST"]),
              Route("/api/answers", _route(ex.answers), methods=["POST"]),
              Route("/api/sample", _route(ex.sample), methods=["POST"]),
              Route("/api/load", _route(ex.load_model), methods=["POST"]),
              Route("/api/jobs/{job_id}", _route(ex.job), methods=["GET"]),
              Route("/api/jobs/{job_id}/cancel", _route(ex.cancel), methods=["POST"]),
              Mount("/static", StaticFiles(directory=STATIC), name="static")]
    guard = Middleware(Guard, host=host, port=port, token=token)
    app = Starlette(routes=routes, middleware=[guard], exception_handlers={HTTPException: _http_error})
    app.state.explorer = ex
    return app
