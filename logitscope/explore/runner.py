"""One loaded model behind the explorer: every use of it holds its lock (uvicorn runs requests in a
thread pool; two forwards never race on one model or cache), and the next-token log-probs of the
last prompts are kept, so moving the temperature or top-p slider needs no forward pass. A job checks
whether it was cancelled before each forward pass of the model's body and each sampled token, and
while it waits for the lock: a cancelled job lets the model go at once."""
from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from contextlib import contextmanager

from .jobs import Cancelled
from ..views.answers import PATHS_OPEN, answers_html, paths_html
from ..views.nexttoken import next_token_html
from .query import FieldError, Query, about
from ..views.sample import sample_html

KEEP_LOGPROBS = 32
LIKELY = 3          # a boundary set's members named on a path row: its most probable at that step
NAMED_MAX = 64      # path rows whose set is named per readout (one forward each)
WAIT = 0.1          # seconds between looks at a cancel while waiting for the model's lock


class ModelRunner:
    def __init__(self, lm):
        self.lm = lm
        self.lock = threading.Lock()
        self.closed = False                   # the server is stopping: nothing waits for the model any more
        self._logprobs: OrderedDict[tuple, object] = OrderedDict()
        self._pieces: dict[int, str] = {}
        self.vocab = lm.model.get_output_embeddings().weight.shape[0]

    @contextmanager
    def using(self, job=None):
        """The model's lock, waited for in short tries: a job cancelled while it waits (and every wait,
        once the server stops) leaves at once instead of queueing behind the work that holds it."""
        while not self.lock.acquire(timeout=WAIT):
            self._check(job)
        try:
            self._check(job)
            yield
        finally:
            self.lock.release()

    def _check(self, job) -> None:
        if job is not None:
            job.check()
        if self.closed:
            raise Cancelled()

    def close(self) -> None:
        """The server stops: every wait for the model ends (`Cancelled`); its jobs are cancelled by `Jobs`."""
        self.closed = True

    def info(self) -> dict:
        from ..kernels.engine.forward import context_limit
        tok = self.lm.tokenizer
        formats = ["raw", "tulu", "llama3-instruct"] + (["chat"] if getattr(tok, "chat_template", None) else [])
        return {"name": self.lm.name, "format": self.lm.format.name, "formats": formats, "vocab": int(self.vocab),
                "context": context_limit(self.lm.model)}

    def formatted(self, fmt: str):
        """The LM with another prompt format (the same model and tokenizer); `default`: its own."""
        from ..kernels.models.formats import Format
        if fmt in ("default", self.lm.format.name):
            return self.lm
        return dataclasses.replace(self.lm, format=Format(fmt))

    def ids(self, q: Query) -> tuple:
        """(LM in the query's format, the prompt's ids followed by the branch's)."""
        from ..kernels.engine.nexttoken import prompt_ids
        lm = self.formatted(q.format)
        bad = [i for i in q.branch if i >= self.vocab]
        if bad:
            raise FieldError("branch", f"token id {bad[0]} is outside this model's vocabulary ({self.vocab} tokens)")
        with about("prompt"):                 # empty, or longer than the model's context
            ids = prompt_ids(lm, q.prompt, q.infix) + list(q.branch)
            return lm, prompt_ids(lm, ids)

    def logprobs(self, ids: list[int]):
        from ..kernels.engine.forward import next_logprobs
        key = tuple(ids)
        with self.using():
            if key not in self._logprobs:
                self._logprobs[key] = next_logprobs(self.lm, [ids])[0]
                while len(self._logprobs) > KEEP_LOGPROBS:
                    self._logprobs.popitem(last=False)
            self._logprobs.move_to_end(key)
            return self._logprobs[key]

    def next(self, q: Query, k: int) -> dict:
        """The `NextToken` record of the query's prompt and its view (token rows choosable)."""
        from ..kernels.engine.nexttoken import summarise
        from ..kernels.engine.sampling import check_settings
        check_settings(q.temperature, q.top_p)
        lm, ids = self.ids(q)
        rec = summarise(lm, ids, self.logprobs(ids), infix=q.infix, temperature=q.temperature, top_p=q.top_p,
                        k=k).to_json()
        return {"record": rec, "html": next_token_html(rec, branch=len(q.branch), pick=True, style=False, title=False)}

    def check_answers(self, space) -> None:
        """Refuse an answer set this vocabulary cannot spell (before a job starts)."""
        from ..kernels.engine.answers import answer_index
        with self.using(), about("answers"):
            answer_index(self.lm, space)

    def answers(self, q: Query, space, min_mass: float, job) -> dict:
        """The exact readout with its token paths (`trace=True`): the record, its view, and the view
        of each answer's paths. Progress: forward passes so far; a cancel stops it before the next."""
        from ..kernels.engine.answers import answer_distribution
        from ..kernels.engine.forward import body_and_head
        from ..kernels.engine.sampling import check_settings
        check_settings(q.temperature, q.top_p)
        lm, ids = self.ids(q)
        count = [0]

        def tick(*_):                         # before each forward of the model's body
            job.check()
            count[0] += 1
            job.say(f"forward passes so far: {count[0]} (one per step of the answer tree)")
        with self.using(job):
            job.say("reading the answers")
            hook = body_and_head(self.lm.model)[0].register_forward_pre_hook(tick)
            try:
                d = answer_distribution(lm, ids, space, temperature=q.temperature, top_p=q.top_p,
                                        min_mass=min_mass, trace=True)
            finally:
                hook.remove()
        rec = d.to_json()
        for p in rec.get("paths", []):
            p["pieces"] = [self.piece(i) for i in p["ids"]]
            if p["set"]:
                p["set"] = {**p["set"], "example_pieces": [self.piece(i) for i in p["set"]["examples"]]}
        self.name_sets(q, ids, space, rec, job)
        return {"record": rec, "html": answers_html(rec, pick=True, style=False),
                "paths_html": {a: paths_html(rec, a, style=False) for a in rec["answers"]}}

    def sample(self, q: Query, seed: int, max_new_tokens: int, job) -> dict:
        """One sampled continuation (`generate`, sample 0 of `seed`) with every token's statistics."""
        from ..kernels.engine.generate import generate
        lm, ids = self.ids(q)
        done = [0]

        def step(_live):                      # after each sampled token
            job.check()
            done[0] += 1
            job.say(f"{done[0]} of at most {max_new_tokens} tokens")
        with self.using(job):
            s = generate(lm, ids, 1, max_new_tokens, temperature=q.temperature, top_p=q.top_p, seed=seed,
                         on_step=step)[0]
        rec = s.to_json(self.lm.tokenizer)
        rec.update({"seed": seed, "temperature": q.temperature, "top_p": q.top_p, "max_new_tokens": max_new_tokens})
        return {"record": rec, "html": sample_html(rec)}

    def name_sets(self, q: Query, ids: list, space, rec: dict, job) -> None:
        """For each path in view (an answer's first `PATHS_OPEN`, answers most probable first, at most
        `NAMED_MAX` in all) whose last step is any token of a big boundary set: the set's `LIKELY` most
        probable tokens at that step, at the query's T and top-p, each with its share of the set's
        probability (`set["likely"]`: [{"id", "piece", "share"}]). One forward of the prompt and the
        path's tokens per such path, in batches. Sets of other paths get `likely: None` (shown bare:
        their lowest ids, tabs in most vocabularies, would say nothing)."""
        import torch

        from ..kernels.engine.answers import answer_index
        from ..kernels.engine.forward import next_logprobs
        from ..kernels.engine.sampling import transform
        mine: dict = {}
        for p in rec.get("paths", []):
            mine.setdefault(p["answer"], []).append(p)
            if p["set"]:
                p["set"]["likely"] = None
        order = sorted(mine, key=lambda a: -rec["answers"][a])
        shown = [p for a in order for p in mine[a][:PATHS_OPEN] if p["set"]][:NAMED_MAX]
        if not shown:
            return
        sets = answer_index(self.lm, space).set_ids         # the path records its set by size and first ids
        members = {}
        for st in (p["set"] for p in shown):
            key = (st["size"], tuple(st["examples"]))
            if key not in members:
                members[key] = next((torch.from_numpy(x) for x in sets
                                     if len(x) == st["size"] and x[:len(st["examples"])].tolist() == st["examples"]), None)
        job.say(f"naming the likeliest boundary tokens of {len(shown)} paths")
        for start in range(0, len(shown), 16):
            chunk = shown[start:start + 16]
            with self.using(job):
                lps = next_logprobs(self.lm, [ids + p["ids"] for p in chunk])
            for p, lp in zip(chunk, lps):
                member = members[(p["set"]["size"], tuple(p["set"]["examples"]))]
                if member is None:
                    continue
                probs = transform(lp, q.temperature, q.top_p).double().exp()[member]
                total = float(probs.sum())
                top = torch.topk(probs, min(LIKELY, len(member)))
                p["set"]["likely"] = [{"id": int(member[j]), "piece": self.piece(int(member[j])),
                                       "share": float(v) / total if total > 0 else 0.0}
                                      for v, j in zip(top.values.tolist(), top.indices.tolist())]

    def piece(self, i: int) -> str:
        """A token's text; a token that is not whole UTF-8 on its own (a byte of a character split
        across tokens) shows those bytes as `<0xE2>` (`vocab.token_text`)."""
        if i not in self._pieces:
            from ..kernels.engine.vocab import token_text
            self._pieces[i] = token_text(self.lm.tokenizer, i, self.vocab)
        return self._pieces[i]
