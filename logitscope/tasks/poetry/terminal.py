"""The interactive terminal contest (prompt_toolkit): two anonymised poems side by side, one key
per judgement, every judgement appended to the annotator's file as it is made, so a quit or a
kill loses nothing and the next run resumes at the first pair not yet judged.

Keys: 1 / a / Left = the left poem, 2 / l / Right = the right poem, s = skip, q / Ctrl-C = quit.
"""
from __future__ import annotations

from ...probes.ranking import read_judgements
from .contest import AXES, CONTROL, append_judgement, contest_poems, judgement, judgements_path, load_poems, \
    schedule


def _app(todo, texts, header, on_choice, input=None, output=None):
    try:
        from prompt_toolkit import Application
        from prompt_toolkit.key_binding import KeyBindings
        from prompt_toolkit.layout import Dimension, HSplit, Layout, VSplit, Window
        from prompt_toolkit.layout.controls import FormattedTextControl
        from prompt_toolkit.widgets import Frame
    except ImportError:
        from ...errors import UserError
        raise UserError('the terminal contest needs prompt_toolkit: pip install -e ".[creativity]"') from None
    state = {"i": 0}

    def current():
        return todo[state["i"]] if state["i"] < len(todo) else None

    def top():
        p = current()
        return "" if p is None else f"{header}   pair {state['i'] + 1} of {len(todo)} left in this job"

    def poem(side):
        p = current()
        return "" if p is None else "\n" + "\n".join("  " + ln for ln in texts(getattr(p, side)).splitlines()) + "\n"

    kb = KeyBindings()

    def choose(choice):
        def handler(event):
            p = current()
            if p is None:
                event.app.exit()
                return
            on_choice(p, choice)
            state["i"] += 1
            if current() is None:
                event.app.exit()
        return handler
    for keys, choice in ((("1",), "left"), (("a",), "left"), (("left",), "left"), (("2",), "right"),
                         (("l",), "right"), (("right",), "right"), (("s",), "skip")):
        kb.add(*keys)(choose(choice))

    @kb.add("q")
    @kb.add("c-c")
    def _quit(event):
        event.app.exit()

    body = HSplit([Window(FormattedTextControl(top), height=1),
                   VSplit([Frame(Window(FormattedTextControl(lambda: poem("left")), wrap_lines=True), title="1: left",
                                 width=Dimension(weight=1)),
                           Frame(Window(FormattedTextControl(lambda: poem("right")), wrap_lines=True), title="2: right",
                                 width=Dimension(weight=1))]),
                   Window(FormattedTextControl("1/a/Left: left poem   2/l/Right: right poem   s: skip   q: quit "
                                               "(judgements are saved as you go)"), height=1)])
    return Application(layout=Layout(body), key_bindings=kb, full_screen=True, input=input, output=output)


def run_contest(poems_dir, topic, axis, annotator, *, per_model=5, comparisons=60, seed=0, out="results",
                input=None, output=None) -> dict:
    """Run (or resume) one annotator's job; returns what is judged and what is left."""
    from ...errors import UserError
    if not annotator.strip():
        raise UserError("--annotator needs a name")
    chosen = contest_poems(load_poems(poems_dir), topic, per_model)
    topic = next(iter(chosen.values()))["topic"]          # the poems' own spelling ("Coffee")
    pairs, bag = schedule(chosen, topic, axis, comparisons, seed)
    path = judgements_path(out, topic, axis, annotator)
    done = {r["pair"] for r in read_judgements([path])[0]} if path.exists() else set()
    todo = [p for p in pairs if p.pair not in done]

    def texts(pid):
        return "\n".join(bag) if pid == CONTROL else "\n".join(chosen[pid]["lines"])

    def record(pair, choice):
        append_judgement(path, judgement(pair, choice, topic=topic, axis=axis, annotator=annotator, source="terminal"))
    if todo:
        header = f"{topic} / {axis}: {AXES[axis]}"
        _app(todo, texts, header, record, input=input, output=output).run()
    judged = {r["pair"] for r in read_judgements([path])[0]} if path.exists() else set()
    return {"topic": topic, "axis": axis, "annotator": annotator, "pairs": len(pairs),
            "judged": len(judged & {p.pair for p in pairs}), "left": len([p for p in pairs if p.pair not in judged]),
            "path": str(path)}
