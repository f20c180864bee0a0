"""The tree shows the architecture: no module imports from a layer above its own (every import,
lazy ones inside functions included), and probes never import torch."""
import ast
from pathlib import Path

import logitscope

ROOT = Path(logitscope.__file__).parent
# cli -> tasks -> (report, probes, kernels); report -> (probes, kernels); errors below all; the test
# helpers (tiny models) above all
RANK = {"errors": 0, "progress": 0, "views": 0, "probes": 1, "kernels": 1, "report": 2, "tasks": 3, "explore": 4, "cli": 5,
        "testing": 6}
FORBIDDEN = {("probes", "kernels"), ("kernels", "probes")}     # same rank, never each other


def _imports(path: Path, root: Path = ROOT):
    """(line, absolute module) of every import in a module of the package."""
    mod = ".".join(path.relative_to(root.parent).with_suffix("").parts)
    pkg = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield node.lineno, a.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")[:len(pkg.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if node.module is None:      # from . import a, b: each name may be a module
                for a in node.names:
                    yield node.lineno, f"{target}.{a.name}"
            else:
                yield node.lineno, target


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "logitscope" and len(parts) > 1 else None


def test_no_module_imports_from_a_layer_above_it():
    bad = []
    for path in sorted(ROOT.rglob("*.py")):
        here = _layer(".".join(path.relative_to(ROOT.parent).with_suffix("").parts))
        if here not in RANK:
            continue
        for line, target in _imports(path):
            there = _layer(target)
            if there is None or there == here or there not in RANK:
                continue
            if RANK[there] > RANK[here] or (here, there) in FORBIDDEN:
                bad.append(f"{path.relative_to(ROOT.parent)}:{line}: {here} imports {target}")
    assert not bad, "\n".join(bad)


def test_probes_never_import_torch():
    bad = [f"{p.name}:{line}" for p in (ROOT / "probes").rglob("*.py") for line, t in _imports(p)
           if t.split(".")[0] == "torch"]
    assert not bad, bad


def test_the_checker_sees_an_upward_import(tmp_path):
    """The rule above can fail: a lazy import of a task inside a report function is found."""
    fake = tmp_path / "logitscope" / "report" / "x.py"
    fake.parent.mkdir(parents=True)
    fake.write_text("def f():\n    from ..tasks.results import slug\n")
    found = list(_imports(fake, tmp_path / "logitscope"))
    assert found == [(2, "logitscope.tasks.results")]
    assert RANK[_layer(found[0][1])] > RANK["report"]
