"""Every third-party package the code imports is declared in setup.cfg (install_requires or an extra),
so a fresh install never depends on what another package happens to pull in."""
import ast
import configparser
import importlib.metadata as md
import re
import sys
from pathlib import Path

import logitscope

ROOT = Path(logitscope.__file__).parent
SETUP = ROOT.parent / "setup.cfg"


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared() -> set[str]:
    cfg = configparser.ConfigParser()
    cfg.read(SETUP)
    lines = cfg["options"]["install_requires"].splitlines()
    lines += [ln for extra in cfg["options.extras_require"] for ln in cfg["options.extras_require"][extra].splitlines()]
    names = set()
    for ln in lines:
        ln = ln.split("#")[0].strip()
        if ln:
            names.add(_norm(re.split(r"[<>=!~\[ ;]", ln, maxsplit=1)[0]))
    return names


def third_party_imports() -> dict[str, str]:
    """{top-level module: first file importing it} over the package (lazy imports included)."""
    found: dict[str, str] = {}
    for path in sorted(ROOT.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else []
            for n in names:
                top = n.split(".")[0]
                if top != "logitscope" and top not in sys.stdlib_module_names:
                    found.setdefault(top, str(path.relative_to(ROOT.parent)))
    return found


def test_every_import_is_declared():
    have = declared()
    dists = md.packages_distributions()
    missing = []
    for top, where in third_party_imports().items():
        owners = {_norm(d) for d in dists.get(top, [])}
        if not owners & have:
            missing.append(f"{top} ({where}; from {sorted(owners) or 'no installed distribution'})")
    assert not missing, "imported but not declared in setup.cfg: " + ", ".join(missing)

