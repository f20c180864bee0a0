"""Slow: the README's commands, as a new user runs them (at small sizes), print no warning lines: a
command's output holds what the user asked for and nothing else. Each runs in its own process with
stderr captured (warnings from libraries' loggers included)."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
# the README's command -> extra options that keep it small (same command, fewer samples)
SMALL = {
    "determinism": ["--games", "2", "--rounds", "2"],
    "integers": ["--samples", "100"],
    "letters": ["--samples", "100"],
    "attractor": ["--samples", "1"],
    "sequences": ["--samples", "2"],
    "entropy": ["--samples", "2", "--max-new-tokens", "6"],
    "diversity": ["--samples", "3", "--max-new-tokens", "6"],
    "personas": ["--samples", "2", "--max-new-tokens", "24"],
    "poetry generate": ["--topic", "coffee", "--per-model", "1", "--max-attempts", "2"],
}
# reward needs the Tulu-3-8B reward model (not on this machine); explore is a server (tests/test_explore*)
SKIP = ("reward", "explore")


def readme_commands() -> list[list[str]]:
    """Every `probe ...` command in the README (code spans and lines of code blocks), as argument lists."""
    texts = re.findall(r"`(probe [^`]+)`", README) + re.findall(r"^(probe [^\n]+)$", README, re.MULTILINE)
    cmds = []
    for text in texts:
        args = [x.strip('"') for x in re.findall(r'"[^"]*"|\S+', text)[1:]]
        if args and args[0] not in SKIP and args not in cmds and not any("..." in x or x.isupper() for x in args):
            cmds.append(args)
    # a bare name in the prose (`probe plan`) stands for its fuller form where the README has one
    return [c for c in cmds if not (len(c) == 1 and any(d[0] == c[0] and len(d) > 1 for d in cmds))]


def _small(args):
    key = " ".join(args[:2]) if " ".join(args[:2]) in SMALL else args[0]
    return args + SMALL.get(key, [])


def test_the_readme_lists_commands():
    names = {c[0] for c in readme_commands()}
    assert {"determinism", "dist", "integers", "sequences", "entropy", "report", "plan", "models"} <= names


def test_readme_commands_print_no_warnings(tmp_path):
    env = {**os.environ, "PYTHONWARNINGS": "default"}       # show every warning a user would see
    ran = []
    for args in readme_commands() + [["compare", "--quick", "--tasks", "integers,rps"]]:
        if args[0] in ("report",) or (args[0] == "poetry" and args[1] != "generate"):
            continue
        full = _small(args)
        if args[0] not in ("plan", "models", "dist"):
            full += ["--out", str(tmp_path / "results")]
        r = subprocess.run([sys.executable, "-m", "logitscope.cli", *full], capture_output=True, text=True,
                           env=env, cwd=tmp_path, timeout=900)
        assert r.returncode == 0, (full, r.stderr[-2000:])
        bad = [ln for ln in r.stderr.splitlines() if re.search(r"warn", ln, re.IGNORECASE)]
        assert not bad, (full, bad)
        ran.append(args[0])
    r = subprocess.run([sys.executable, "-m", "logitscope.cli", "report", str(tmp_path / "results")],
                       capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert r.returncode == 0 and not re.search(r"warn", r.stderr, re.IGNORECASE), r.stderr[-2000:]
    assert {"determinism", "dist", "integers", "entropy"} <= set(ran)
