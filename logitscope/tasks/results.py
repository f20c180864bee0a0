"""Result files: JSON lines with provenance, appended unit by unit, resumable.

A run's file is named by what the run computes (`<out>/<task>/<model>-<config hash>.jsonl`), so
rerunning the same command finds it and skips the units already there, while a changed setting
(seed, format, prompt, adversary...) writes a new file and never mixes with the old one. The
first record is a `run` header with the full config and provenance; every unit of work is one
record, flushed and fsync'd as soon as it is done (a kill loses at most the batch in flight; games
also save each round of the games in flight as `rounds` records); a `summary` record is appended
when a run completes. Data-parallel processes write `.rankN` shards beside the file; readers take
the union. While a process writes a file it holds `<file>.lock` (and names itself in
`<file>.owner`); both are removed when it lets go (summary written, or the process exits).
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


WAIT = os.environ.get("LOGITSCOPE_WAIT") == "1"      # `--wait`: wait for a result file another run holds
_HELD: dict = {}                                     # result files this process holds
_REPORTED: set = set()


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "model"


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
        self.dir = Path(out) / task
        self.config = config
        self.hash = config_hash(config)
        self.stem = f"{slug(name)}-{self.hash}"
        self.path = self.dir / (f"{self.stem}.jsonl" if rank is None else f"{self.stem}.rank{rank}.jsonl")

    def files(self) -> list[Path]:
        return sorted(self.dir.glob(f"{self.stem}*.jsonl"))

    def records(self, kind: str) -> list[dict]:
        """All `kind` records in the file and its shards. A torn last line (a killed run) is
        skipped quietly; a malformed line elsewhere is reported once (file and line), and the unit
        it held is computed again."""
        out = []
        for f in self.files():
            with open(f, encoding="utf-8") as fh:
                lines = fh.readlines()
            for n, line in enumerate(lines, 1):
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    if n < len(lines) and (str(f), n) not in _REPORTED:
                        _REPORTED.add((str(f), n))
                        print(f"warning: {f}:{n}: malformed line skipped; its unit is computed again", file=sys.stderr)
                    continue
                if isinstance(rec, dict) and rec.get("type") == kind:
                    out.append(rec)
        return out

    def done(self, key: str) -> dict:
        """Unit records already written, by `key` (later duplicates are ignored). A writer asks
        this first, so the file is locked for this process before it is read."""
        self.lock()
        got = {}
        for rec in self.records("unit"):
            got.setdefault(rec[key], rec)
        return got

    def lock(self) -> None:
        """Hold this result file for this process until its summary is written (or the process
        ends): a second run on the same file says who holds it and stops, or with `--wait` (WAIT)
        waits for it."""
        if str(self.path) in _HELD:
            return
        import filelock
        self.dir.mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(str(self.path) + ".lock")
        owner = Path(str(self.path) + ".owner")
        try:
            lock.acquire(timeout=-1 if WAIT else 0)
        except filelock.Timeout:
            who = owner.read_text().strip() if owner.exists() else "another process"
            raise UserError(f"{self.path} is being written by {who}; wait for it to finish, or rerun with --wait") from None
        owner.write_text(f"process {os.getpid()} on {platform.node()} since {time.strftime('%H:%M:%S')}\n")
        _HELD[str(self.path)] = lock

    def release(self) -> None:
        """Let go of this file (no-op when not held): the lock and owner files are removed."""
        _release(str(self.path))

    def open(self, header: dict):
        """Open for appending (the file locked for this process first); writes the `run` header
        when the file is new."""
        self.lock()
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            new = not self.path.exists() or self.path.stat().st_size == 0
            fh = open(self.path, "a", encoding="utf-8")
        except OSError as exc:
            raise UserError(f"cannot write results to {self.dir}: {exc.strerror}") from None
        if new:
            write_record(fh, {"type": "run", "config": self.config, **header})
        return fh


def jsonl_records(path):
    """Every JSON object in a JSON-lines file, or in every *.jsonl below a directory; lines that are
    not JSON objects are skipped (readers that must report them use `report.collect`)."""
    p = Path(path)
    for f in (sorted(p.rglob("*.jsonl")) if p.is_dir() else [p]):
        with open(f, encoding="utf-8") as fh:
            for line in fh:
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(rec, dict):
                    yield rec


def append(fh, records) -> None:
    for rec in records:
        fh.write(json.dumps({"type": "unit", **rec}, ensure_ascii=False) + "\n")
    fh.flush()
    os.fsync(fh.fileno())


def write_record(fh, rec: dict) -> None:
    """One record (with its own `type`), flushed and fsync'd."""
    fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    fh.flush()
    os.fsync(fh.fileno())


def write_summary(fh, summary: dict) -> None:
    """The run's last record; the file's lock is let go (another run may now take it)."""
    write_record(fh, {"type": "summary", **summary})
    _release(fh.name)


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
