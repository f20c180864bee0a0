"""The interactive terminal contest (prompt_toolkit): two anonymised poems side by side, one key
per judgement, every judgement appended to the annotator's file as it is made, so a quit or a
kill loses nothing and the next run resumes at the first pair not yet judged.

Keys: 1 / a / Left = the left poem, 2 / l / Right = the right poem, s = skip (the pair comes back
at the end; skipping it again there records a skip), u / Backspace = undo the last step of this
session (a judgement is taken back out of the file), q / Ctrl-C = quit.
"""
from __future__ import annotations

import os
import textwrap

from ... import progress
from .contest import AXES, append_judgement, judged, judgement, judgements_path, load_poems, open_contest


def wrap_poem(text: str, width: int) -> list[str]:
    """The poem's lines indented by two spaces and wrapped at word boundaries to `width` columns (a
    continuation indented two more); a word longer than a line is the only thing ever split."""
    out = []
    for line in text.splitlines():
        out += [x.rstrip() for x in textwrap.wrap(line, width=max(width, 12), initial_indent="  ",
                                                  subsequent_indent="    ", break_on_hyphens=False)] or [""]
    return out


class Job:
    """One annotator's queue for one contest: the pairs not judged yet, in schedule order."""

    def __init__(self, todo, total: int, earlier: int, record, unrecord):
        self.queue, self.total, self.earlier = list(todo), total, earlier
        self.record, self.unrecord = record, unrecord     # record(pair, choice) -> offset; unrecord(offset)
        self.deferred: set = set()
        self.history: list = []
        self.now = 0                                      # judgements made in this session
        self.message = ""

    @property
    def current(self):
        return self.queue[0] if self.queue else None

    def status(self) -> str:
        p = self.current
        if p is None:
            return f"all {self.total} pairs judged"
        line = f"pair {self.earlier + self.now + 1} of {self.total}"
        if self.earlier:
            line += f", {self.earlier} judged earlier"
        if p.pair in self.deferred:
            line += " (skipped once: s again records a skip)"
        return line

    def choose(self, choice: str) -> None:
        p = self.queue.pop(0)
        self.history.append(("record", p, self.record(p, choice)))
        self.now += 1
        self.message = ""

    def skip(self) -> None:
        p = self.current
        if p.pair in self.deferred:
            self.choose("skip")
            return
        self.queue.append(self.queue.pop(0))
        self.deferred.add(p.pair)
        self.history.append(("defer", p, None))
        self.message = "skipped: this pair comes back at the end"

    def undo(self) -> None:
        if not self.history:
            self.message = "nothing to undo in this session"
            return
        kind, p, offset = self.history.pop()
        if kind == "record":
            self.unrecord(offset)
            self.now -= 1
        else:
            self.queue.remove(p)
            self.deferred.discard(p.pair)
        self.queue.insert(0, p)
        self.message = "undone"


def _app(job: Job, text, header: str, input=None, output=None, **app_kw):
    try:
        from prompt_toolkit import Application
        from prompt_toolkit.application.current import get_app
        from prompt_toolkit.key_binding import KeyBindings
        from prompt_toolkit.layout import Dimension, HSplit, Layout, VSplit, Window
        from prompt_toolkit.layout.controls import FormattedTextControl
        from prompt_toolkit.widgets import Frame
    except ImportError:
        from ...errors import UserError
        raise UserError('the terminal contest needs prompt_toolkit: pip install -e ".[creativity]"') from None

    help_line = "1/a/Left: left   2/l/Right: right   s: skip (it comes back)   u: undo   q: quit (all is saved)"

    def status():
        return job.status() + (f"   {job.message}" if job.message else "")

    def wrapped(s: str) -> list[str]:   # a line of its own, wrapped at word boundaries
        return textwrap.wrap(s, max(get_app().output.get_size().columns - 1, 8))

    def poem(side):
        p = job.current
        if p is None:
            return ""
        size = get_app().output.get_size()
        width = size.columns // 2 - 5   # half the screen less borders, indent and one spare column
        got = wrap_poem(text(getattr(p, side)), width)
        room = size.rows - 2 - sum(len(wrapped(s)) for s in (status(), header, help_line))
        if len(got) > room:             # never cut a poem silently
            more = wrap_poem("[more: enlarge the terminal]", width)
            got = got[:max(room - len(more), 0)] + more
        return "\n".join(got)

    def lines(get, style=""):
        return Window(FormattedTextControl(lambda: "\n".join(wrapped(get()))), dont_extend_height=True, style=style)

    kb = KeyBindings()

    def act(step):
        def handler(event):
            if job.current is not None:
                step()
            if job.current is None:
                event.app.exit()
        return handler
    for keys, step in ((("1",), lambda: job.choose("left")), (("a",), lambda: job.choose("left")),
                       (("left",), lambda: job.choose("left")), (("2",), lambda: job.choose("right")),
                       (("l",), lambda: job.choose("right")), (("right",), lambda: job.choose("right")),
                       (("s",), job.skip), (("u",), job.undo), (("backspace",), job.undo)):
        kb.add(*keys)(act(step))

    @kb.add("q")
    @kb.add("c-c")
    def _quit(event):
        event.app.exit()

    def pane(side, title):
        return Frame(Window(FormattedTextControl(lambda: poem(side)), wrap_lines=True), title=title,
                     width=Dimension(weight=1))
    body = HSplit([lines(status, "bold"), lines(lambda: header),
                   VSplit([pane("left", "1: left"), pane("right", "2: right")]), lines(lambda: help_line)])
    return Application(layout=Layout(body), key_bindings=kb, full_screen=True, input=input, output=output, **app_kw)


def run_contest(poems_dir, topic, axis, annotator, *, per_model=None, comparisons=60, seed=0, out="results",
                runs=None, input=None, output=None, **app_kw) -> dict:
    """Run (or resume) one annotator's job; returns what is judged and what is left: `pairs` (the
    contest's pairs of poems) and `controls` (its control pairs) apart, `judged` and `left` of both
    together (the annotator is not told which is the control). `app_kw` go to prompt_toolkit's
    Application (tests pass `after_render`)."""
    from ...errors import UserError
    if not annotator.strip():
        raise UserError("--annotator needs a name")
    c = open_contest(load_poems(poems_dir, runs), topic, axis, per_model=per_model, comparisons=comparisons, seed=seed)
    path = judgements_path(out, c.topic, axis, annotator)
    done, other = judged(path, c.pairs)
    if other:
        progress.note(f"{other} judgements in {path} are not of this schedule's pairs (another --seed, --per-model, "
                      "--comparisons or set of poems, or an older file): kept, not counted here")
    if done:
        progress.note(progress.reused(len(done), len(c.pairs), "judgements"))
    todo = [p for p in c.pairs if p.pair not in done]

    def record(pair, choice):
        return append_judgement(path, judgement(pair, choice, topic=c.topic, axis=axis, annotator=annotator,
                                                source="terminal"))

    def unrecord(offset):
        os.truncate(path, offset)
    if todo:
        job = Job(todo, len(c.pairs), len(done), record, unrecord)
        _app(job, c.text, f"{c.topic} / {axis}: {AXES[axis]}", input=input, output=output, **app_kw).run()
    now, _ = judged(path, c.pairs)
    controls = sum(p.control for p in c.pairs)
    return {"topic": c.topic, "axis": axis, "annotator": annotator, "pairs": len(c.pairs) - controls,
            "controls": controls, "judged": len(now), "left": len(c.pairs) - len(now), "path": str(path)}
