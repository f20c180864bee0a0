"""The terminal contest as a person meets it, driven key by key through prompt_toolkit on a fixed-size
screen that the test reads after every render: overall progress ("pair 3 of 7, 2 judged earlier"),
poems wrapped at word boundaries, undo, a skipped pair coming back at the end, quit and resume."""
import re

from prompt_toolkit.application import create_app_session
from prompt_toolkit.data_structures import Size
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput
from test_poetry import WORDS, _poems_dir

from logitscope.probes.poetry_files import read_judgements
from logitscope.tasks.poetry.terminal import run_contest, wrap_poem

KW = dict(per_model=2, comparisons=6)          # 6 pairs + 1 control


class Screen(DummyOutput):
    def __init__(self, rows=30, columns=44):
        self.size = Size(rows=rows, columns=columns)

    def get_size(self):
        return self.size


def _text(app) -> str | None:
    s = app.renderer._last_screen
    if s is None:
        return None
    size = app.output.get_size()
    return "\n".join("".join(s.data_buffer[y][x].char for x in range(size.columns)).rstrip() for y in range(size.rows))


def drive(poems, out, keys, columns=44, rows=30):
    """Run the contest, sending one key after each render (then q); returns (result, screens), the
    screen before each key first."""
    keys, screens = list(keys), []
    with create_pipe_input() as inp:
        screen = Screen(rows=rows, columns=columns)

        def after(app):
            text = _text(app)
            if text is not None:
                screens.append(text)
                inp.send_text(keys.pop(0) if keys else "q")
        with create_app_session(input=inp, output=screen):
            res = run_contest(poems, "coffee", "originality", "ann", out=str(out), input=inp, output=screen,
                              after_render=after, **KW)
    return res, screens


def _pane(screen: str, side: int) -> list[str]:
    """The text inside the left (0) or right (1) frame."""
    rows = [ln for ln in screen.splitlines() if ln.count("│") == 4]
    return [x for x in (re.split("│", ln)[1 + 2 * side].strip() for ln in rows) if x]


def _status(screen: str) -> str:
    return screen.splitlines()[0]


def _flat(screen: str) -> str:
    return " ".join(screen.split())


def test_progress_skip_comes_back_undo_and_resume(tmp_path):
    poems, out = _poems_dir(tmp_path), tmp_path / "out"
    res, screens = drive(poems, out, "1s" + "u" + "s11111")
    # 0: pair 1 | 1 -> 1: pair 2 | s -> 2: pair 3 shown, pair 2 deferred | u -> 3: pair 2 again | s -> 4 ...
    assert _status(screens[0]) == "pair 1 of 7" and _status(screens[1]) == "pair 2 of 7"
    skipped = _pane(screens[1], 0)
    assert "pair 2 of 7 skipped: this pair comes back at the end" in _flat(screens[2])
    assert _pane(screens[2], 0) != skipped
    assert _status(screens[3]).startswith("pair 2 of 7   undone") and _pane(screens[3], 0) == skipped
    assert _pane(screens[4], 0) != skipped                               # skipped again (deferred)
    last = screens[-1]                                                  # after five more choices
    assert _flat(last).startswith("pair 7 of 7 (skipped once: s again records a skip)")
    assert _pane(last, 0) == skipped                                    # it came back at the end
    assert res["judged"] == 6 and res["left"] == 1
    recs, _ = read_judgements([res["path"]])
    assert [r["choice"] for r in recs] == ["left"] * 6 and len({r["pair"] for r in recs}) == 6
    # a second session: overall progress counts the earlier judgements; s again records the skip
    res, screens = drive(poems, out, "ss")
    assert _status(screens[0]) == "pair 7 of 7, 6 judged earlier"
    assert res["judged"] == 7 and read_judgements([res["path"]])[0][-1]["choice"] == "skip"


def test_undo_takes_the_judgement_back_out_of_the_file(tmp_path):
    poems, out = _poems_dir(tmp_path), tmp_path / "out"
    res, screens = drive(poems, out, "12u")
    recs, _ = read_judgements([res["path"]])
    assert [r["choice"] for r in recs] == ["left"] and res["judged"] == 1      # the 'right' was undone
    assert _status(screens[3]).startswith("pair 2 of 7   undone") and _pane(screens[3], 0) == _pane(screens[1], 0)
    res, _ = drive(poems, out, "uuu")                       # nothing of an earlier session is undone
    assert res["judged"] == 1


def test_poems_wrap_at_word_boundaries_on_a_narrow_screen(tmp_path):
    res, screens = drive(_poems_dir(tmp_path), tmp_path / "out", "", columns=36)
    screen = screens[0]
    for side in (0, 1):
        text = " ".join(_pane(screen, side)).split()
        assert text and set(text) <= set(WORDS), text               # every word whole (no "mor|ning")
        assert len(_pane(screen, side)) > 6                         # and the 4 lines did wrap
    assert "original?" in screen.replace("\n", " ")                 # the question too
    assert "enlarge the terminal" not in screen
    _, screens = drive(_poems_dir(tmp_path / "small"), tmp_path / "out", "", columns=36, rows=14)
    for side in (0, 1):                                             # too small: said, never cut silently
        assert " ".join(_pane(screens[0], side)).endswith("[more: enlarge the terminal]")
    for width in (12, 16, 20, 30):
        for line in wrap_poem("the art of brewing coffee slowly\nin the morning light", width):
            assert len(line) <= width and not line.endswith(" ")
        joined = " ".join(wrap_poem("the art of brewing coffee slowly", width)).split()
        assert joined == "the art of brewing coffee slowly".split()


def test_keys_sent_at_once_quit_and_resume(tmp_path):
    poems, out = _poems_dir(tmp_path), tmp_path / "out"
    kw = dict(out=str(out), **KW)
    with create_pipe_input() as inp, create_app_session(input=inp, output=DummyOutput()):
        inp.send_text("12sq")                                         # left, right, skip (deferred), quit
        first = run_contest(poems, "coffee", "originality", "ann", input=inp, output=DummyOutput(), **kw)
    assert first["judged"] == 2 and first["left"] == 5
    recs, _ = read_judgements([first["path"]])
    assert [r["choice"] for r in recs] == ["left", "right"]
    assert recs[0]["winner"] == recs[0]["left"] and recs[1]["winner"] == recs[1]["right"]
    with create_pipe_input() as inp, create_app_session(input=inp, output=DummyOutput()):
        inp.send_text("11111")
        second = run_contest(poems, "coffee", "originality", "ann", input=inp, output=DummyOutput(), **kw)
    recs, _ = read_judgements([second["path"]])
    assert second["judged"] == 7 and second["left"] == 0 and len(recs) == 7
    assert len({r["pair"] for r in recs}) == 7 and sum(r["control"] for r in recs) == 1
