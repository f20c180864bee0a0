"""Result files: JSON lines with provenance, appended unit by unit, resumable.

A run's file is named by what the run computes (`<out>/<task>/<model>-<config hash>.jsonl`), so
rerunning the same command finds it and skips the units already there, while a changed setting
(seed, format, prompt, adversary...) writes a new file and never mixes with the old one. The
first record is a `run` header with the full config and provenance; every unit of work is one
record, written as one whole line and fsync'd as soon as it is done (a kill loses at most the batch
in flight; games also save each round of the games in flight as `rounds` records; a line a kill cut
short is moved aside before the next append: `jsonl`); a `summary` record is appended when a run
completes. Data-parallel processes write `.rankN` shards beside the file; readers take
the union. While a process writes a file it holds `<file>.lock` (and names itself in
`<file>.owner`); both are removed when it lets go (summary written, or the process exits).

A file name never starts with a dot or a dash and never holds a path separator (a model given as
`./tinym` writes `tinym-<hash>.jsonl`); a file named the older way (`._tinym-<hash>.jsonl`) is
renamed to the new name the first time a run takes it, so a rerun after an upgrade resumes. Every
file a command reads or writes is remembered (`kept_lines`): Ctrl-C names each one and what it holds.
"""
from __future__ import annotations

import atexit
import hashlib
import json
import os
import platform
import re
import sys
import time
from pathlib import Path

from ..errors import UserError
from ..jsonl import open_append, read_lines, write_lines


WAIT = os.environ.get("LOGITSCOPE_WAIT") == "1"      # `--wait`: wait for a result file another run holds
_HELD: dict = {}                                     # result files this process holds
_REPORTED: set = set()
_TOUCHED: dict = {}                                  # files this command took, by path: what Ctrl-C names
_FINISHED: set = set()                               # ... and those whose summary it wrote
UNIT_WORDS = {"integers": "settings", "letters": "settings", "sequences": "sequences", "entropy": "samples",
              "diversity": "samples", "personas": "samples", "poetry": "poem draws", "reward": "answers"}


def slug(text: str) -> str:
    """A file-name piece: no path separator, never starting with a dot or a dash ('./tinym' -> 'tinym')."""
    return _old_slug(text).lstrip("._-") or "model"


def _old_slug(text: str) -> str:
    """The names results had before (a leading dot kept: './tinym' -> '._tinym'), found for resume."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "model"


def make_dir(path: Path, out=None) -> None:
    """Create a result directory, or one clear line saying why it cannot be (`out`: the --out given)."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        return
    except OSError as exc:
        why = exc.strerror or str(exc)
    given = f" (--out {out})" if out is not None else ""
    for above in [path, *path.parents]:
        if above.exists() or above.is_symlink():
            if not above.is_dir():
                raise UserError(f"cannot write results under {above}: it is a file, not a directory{given}; "
                                "--out takes a directory") from None
            break
    raise UserError(f"cannot create the result directory {path}{given}: {why}") from None


def config_hash(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:10]


def versions() -> dict:
    import importlib.metadata as md
    out = {"python": platform.python_version()}
    for pkg in ("logitscope", "torch", "transformers", "accelerate", "optimum-quanto", "numpy", "scipy"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out


def model_config(lm) -> dict:
    """What of the model decides a run's numbers (part of every run's config hash)."""
    info = getattr(lm, "info", {}) or {}
    return {"model": lm.spec, "format": getattr(getattr(lm, "format", None), "name", None),
            "dtype": info.get("dtype"), "quantize": info.get("quantize")}


def as_lm(spec, load: dict | None = None):
    """A loaded LM (or the oracle) as is; a spec string loaded with `load` options."""
    if not isinstance(spec, str):
        return spec
    from ..kernels.models.loading import load_model
    return load_model(spec, **(load or {}))


def provenance(lm, seed=None) -> dict:
    info = dict(getattr(lm, "info", {}) or {})
    info.pop("load_seconds", None)
    return {"model": lm.spec, "model_info": info, "seed": seed, "versions": versions(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


class ResultFile:
    """`<out>/<task>/<name>-<hash>.jsonl` for one (task, model, config)."""

    def __init__(self, out: str | Path, task: str, name: str, config: dict, *, rank: int | None = None):
        self.out, self.name, self.task = out, name, task
        self.dir = Path(out) / task
        self.config = config
        self.hash = config_hash(config)
        self.stem = f"{slug(name)}-{self.hash}"
        self.legacy = f"{_old_slug(name)}-{self.hash}"      # the name before; == stem for most models
        self.path = self.dir / (f"{self.stem}.jsonl" if rank is None else f"{self.stem}.rank{rank}.jsonl")
        self.wanted = None            # units this run asks for (a task sets it): Ctrl-C says 'n of wanted'

    def files(self) -> list[Path]:
        return sorted(self.dir.glob(f"{self.stem}*.jsonl")) or self._legacy_files()

    def _legacy_files(self) -> list[Path]:
        if self.legacy == self.stem:
            return []
        return sorted(self.dir.glob(f"{self.legacy}*.jsonl"))

    def adopt_legacy(self) -> None:
        """Rename files named the older way (`._tinym-<hash>.jsonl`) to this name, so a rerun after
        the naming changed resumes them; said in one note. A file under both names is left alone."""
        for old in self._legacy_files():
            new = self.dir / (self.stem + old.name[len(self.legacy):])
            if new.exists():
                print(f"warning: {old} and {new} both exist; {new} is used, {old} is left as it is", file=sys.stderr)
                continue
            old.rename(new)
            from ..progress import note
            note(f"renamed {old} to {new.name} (result names no longer start with a dot)")

    def kept_line(self, finished: bool) -> str:
        """'embedded:aligned: 12 of 50 games complete and 4 part-played (their rounds so far) in PATH';
        '(finished)' after the count when this command wrote the file's summary."""
        units = self.records("unit")
        what = "games" if self.task.startswith("determinism") else UNIT_WORDS.get(self.task, "records")
        n = len(units) if self.wanted is None else min(len(units), self.wanted)
        text = f"{self.name}: {n}" + (f" of {self.wanted}" if self.wanted is not None else "") + f" {what} complete"
        done = {u.get("game") for u in units}
        part = {g for r in self.records("rounds") for g in r.get("games", ()) if g not in done}
        if part:
            text += f" and {len(part)} part-played (their rounds so far)"
        where = self.path if self.path.exists() or not self.files() else self.files()[0]
        return text + (" (finished)" if finished else "") + f" in {where}"

    def records(self, kind: str) -> list[dict]:
        """All `kind` records in the file and its shards (`jsonl.read_lines`). A torn last line (a
        killed run) is skipped quietly; a malformed line elsewhere is reported once (file and line),
        and the unit it held is computed again."""
        out = []
        for f in self.files():
            for ln in read_lines(f):
                if ln.why is not None:
                    if not ln.last and (str(f), ln.n) not in _REPORTED:
                        _REPORTED.add((str(f), ln.n))
                        print(f"warning: {f}:{ln.n}: malformed line skipped ({ln.why}); its unit is computed "
                              "again", file=sys.stderr)
                    continue
                if ln.rec.get("type") == kind:
                    out.append(ln.rec)
        return out

    def done(self, key: str) -> dict:
        """Unit records already written, by `key` (later duplicates are ignored). A writer asks
        this first, so the file is locked for this process before it is read."""
        self.lock()
        _TOUCHED.setdefault(str(self.path), self)
        got = {}
        for rec in self.records("unit"):
            if key in rec:                              # a unit line without its key (edited by hand) is no unit
                got.setdefault(rec[key], rec)
        return got

    def lock(self) -> None:
        """Hold this result file for this process until its summary is written (or the process
        ends): `hold`."""
        if hold(self.path, self.out):
            self.adopt_legacy()

    def release(self) -> None:
        """Let go of this file (no-op when not held): `release`."""
        release(self.path)

    def open(self, header: dict):
        """Open for appending (the file locked for this process first, a torn last line repaired:
        `jsonl.open_append`); writes the `run` header when the file is new."""
        self.lock()
        _TOUCHED.setdefault(str(self.path), self)
        try:
            fh = open_append(self.path)
        except OSError as exc:
            raise UserError(f"cannot write results to {self.dir}: {exc.strerror}") from None
        if fh.tell() == 0:                      # new, or all of it was a torn first line
            write_record(fh, {"type": "run", "config": self.config, **header})
        return fh


def jsonl_records(path):
    """Every JSON object in a JSON-lines file, or in every *.jsonl below a directory; lines that are
    not JSON objects are skipped (readers that must report them use `report.collect`)."""
    p = Path(path)
    for f in (sorted(p.rglob("*.jsonl")) if p.is_dir() else [p]):
        yield from (ln.rec for ln in read_lines(f) if ln.why is None)


def append(fh, records) -> None:
    """Unit records, as whole lines in one write (`jsonl.write_lines`), fsync'd."""
    write_lines(fh, [{"type": "unit", **rec} for rec in records])


def write_record(fh, rec: dict) -> None:
    """One record (with its own `type`), one whole line, fsync'd."""
    write_lines(fh, [rec])


def write_summary(fh, summary: dict) -> None:
    """The run's last record; the file's lock is let go (another run may now take it)."""
    write_record(fh, {"type": "summary", **summary})
    _FINISHED.add(fh.name)
    _release(fh.name)


def hold(path, out=None) -> bool:
    """Hold the file `path` for this process until it lets go (`release`) or ends: a second process on
    the same file says who holds it and stops, or with `--wait` (WAIT) says so once and waits for it.
    Returns whether this call took it (False: this process held it already). `out`: the --out given."""
    path = Path(path)
    if str(path) in _HELD:
        return False
    import filelock
    make_dir(path.parent, out)
    lock = filelock.FileLock(str(path) + ".lock")
    owner = Path(str(path) + ".owner")
    try:
        try:
            lock.acquire(timeout=0)
        except filelock.Timeout:
            if not WAIT:
                raise
            from ..progress import note
            note(f"{path} is being written by {_holder(owner)}; waiting for it to finish (--wait)")
            lock.acquire()
        owner.write_text(f"process {os.getpid()} on {platform.node()} since {time.strftime('%H:%M:%S')}\n")
    except filelock.Timeout:
        raise UserError(f"{path} is being written by {_holder(owner)}; wait for it to finish, or rerun with --wait") from None
    except OSError as exc:
        if lock.is_locked:
            lock.release()
        where = f" (--out {out})" if out is not None else ""
        raise UserError(f"cannot write results to {path.parent}{where}: {exc.strerror or exc}") from None
    _HELD[str(path)] = lock
    return True


def release(path) -> None:
    """Let go of a file `hold` took (no-op when not held): its lock and owner files are removed."""
    _release(str(path))


def track(path, label: str, what: str, wanted: int | None = None) -> None:
    """Name a result file written without `ResultFile` (one JSON record a line) for Ctrl-C's message."""
    _TOUCHED.setdefault(str(path), _Plain(Path(path), label, what, wanted))


def forget() -> None:
    """A new command starts: no file taken yet."""
    _TOUCHED.clear()
    _FINISHED.clear()


def kept_lines() -> list[str]:
    """One line per file this command took: whose it is, what it holds, and where.
    'embedded:base: 50 of 50 games complete (finished) in results/determinism-rps/embedded_base-1a2b.jsonl'."""
    out = []
    for path, f in _TOUCHED.items():
        try:
            out.append(f.kept_line(path in _FINISHED))
        except OSError:
            out.append(f"{path} (unreadable now)")
    return out


class _Plain:
    def __init__(self, path: Path, label: str, what: str, wanted):
        self.path, self.label, self.what, self.wanted = path, label, what, wanted

    def kept_line(self, finished: bool) -> str:
        n = sum(ln.why is None for ln in read_lines(self.path)) if self.path.exists() else 0
        n = n if self.wanted is None else min(n, self.wanted)
        of = f" of {self.wanted}" if self.wanted is not None else ""
        return f"{self.label}: {n}{of} {self.what}" + (" (finished)" if finished else "") + f" in {self.path}"


def _holder(owner: Path) -> str:
    """'process 123 on host since 12:00:01' (the `.owner` file), or 'another process'."""
    try:
        return owner.read_text().strip() or "another process"
    except OSError:
        return "another process"


def _release(path: str) -> None:
    """Release a held file's lock and remove its lock and owner files. filelock (>= 4) re-checks
    that the file it locked is still linked, so a waiting peer never holds a removed lock file."""
    lock = _HELD.pop(path, None)
    if lock is None:
        return
    for extra in (".owner", ".lock"):
        try:
            os.unlink(path + extra)
        except FileNotFoundError:
            pass
    lock.release()


@atexit.register
def _release_all() -> None:
    """At exit (an error, Ctrl-C, a run that wrote no summary) no lock or owner file stays behind."""
    for path in list(_HELD):
        _release(path)
