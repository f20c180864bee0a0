"""Copy what `gpu.sh` needs on a machine without network into benchmarks/.cache/ (carry that folder):

- smollm2-tokenizer/: SmolLM2's tokenizer (the same for every SmolLM2 size; tokenizer.json,
  tokenizer_config.json, chat_template.jinja) from the converted embedded:aligned (converted here
  first if needed: that needs gguf, which a GPU machine may lack);
- pylib/optimum/quanto: optimum-quanto's pure-Python package, if it is installed here (a GPU machine
  may lack it; gpu.sh puts pylib on PYTHONPATH, which comes before site-packages: this copy, the
  version the smoke run was checked with, is the one the GPU run uses).

    python benchmarks/prepare_cache.py      # prints the folder
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

CACHE = Path(__file__).resolve().parent / ".cache"
FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "special_tokens_map.json")


def export_tokenizer() -> Path:
    from logitscope.kernels.models.embedded import ensure_embedded
    from logitscope.kernels.models.registry import lookup
    src = Path(ensure_embedded(lookup("embedded:aligned").hub_id, log=lambda m: print(m, file=sys.stderr)))
    dst = CACHE / "smollm2-tokenizer"
    dst.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        if (src / name).is_file():
            shutil.copy2(src / name, dst / name)
    return dst


def export_quanto() -> Path | None:
    try:
        import optimum.quanto as quanto
    except ImportError:
        return None
    src = Path(quanto.__file__).parent
    dst = CACHE / "pylib" / "optimum" / "quanto"
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "build", "*.so"))
    return dst


def main():
    tok = export_tokenizer()
    q = export_quanto()
    print(f"tokenizer: {tok}")
    print(f"optimum-quanto: {q or 'not installed here (quantised rows will say so)'}")
    print(CACHE)


if __name__ == "__main__":
    main()
