"""Shared click options and output helpers."""
from __future__ import annotations

import json
import sys

import click

from ..limits import Range

model_option = click.option("--model", "-m", "models", multiple=True,
                            help="embedded:base | embedded:aligned | uniform | a registry name (probe models) "
                                 "| local dir | .gguf | hub id; repeatable")


class OutOfRange(click.BadParameter):
    """A value outside its declared range: the CLI prints its message as one line (exit status 1)."""


class Ranged(click.ParamType):
    """A click type for a number in a declared `limits.Range`: a value outside is refused in one line
    (the CLI prints `error: ...`), saying the range and why."""

    def __init__(self, rng: Range):
        self.rng = rng
        self.name = "integer" if rng.integer else "number"

    def convert(self, value, param, ctx):
        label = max(param.opts, key=len) if param is not None and param.opts else "the value"
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise OutOfRange(f"{label} takes a number (got {value!r})", ctx, param) from None
        if not self.rng.contains(number):
            raise OutOfRange(self.rng.message(value, label), ctx, param)
        return int(number) if self.rng.integer else number

    def get_metavar(self, param, ctx=None):
        return "INTEGER" if self.rng.integer else "FLOAT"


def ranged(rng: Range) -> Ranged:
    return Ranged(rng)


def _set_wait(ctx, param, value):
    if value:
        from ..tasks import results
        results.WAIT = True
    return value


def load_options(f):
    """--format --dtype --device --device-map --max-memory --quantize --compile, and --wait (for a
    result file another run is writing)."""
    f = click.option("--wait", is_flag=True, expose_value=False, callback=_set_wait,
                     help="if another run is writing the same result file, wait for it (default: stop)")(f)
    f = click.option("--compile", "compile_step", type=click.Choice(["auto", "on", "off"]), default="auto",
                     show_default=True,
                     help="generation's decode step as one compiled graph on static slots (CUDA graphs on a GPU); "
                          "auto: on for CUDA, off on the CPU (compiling takes minutes there)")(f)
    f = click.option("--quantize", type=click.Choice(["none", "fp8", "int8"]), default="none",
                     help="quantise weights with optimum-quanto")(f)
    f = click.option("--max-memory", default=None, help="per device, with --device-map: 0=40GiB,1=40GiB,cpu=100GiB")(f)
    f = click.option("--device-map", default=None, help="auto | balanced | sequential | FILE.json (accelerate)")(f)
    f = click.option("--device", default=None, help="cpu | cuda | cuda:1 (default: cuda if available)")(f)
    f = click.option("--dtype", default=None, help="fp32 | bf16 | fp16 (default fp32 on CPU, bf16 on GPU)")(f)
    f = click.option("--format", "fmt", default=None,
                     type=click.Choice(["raw", "tulu", "llama3-instruct", "chat"]),
                     help="prompt format (default: the model's registry format, else raw)")(f)
    return f


def load_kwargs(kw: dict) -> dict:
    return dict(fmt=kw.get("fmt"), dtype=kw.get("dtype"), device=kw.get("device"),
                device_map=kw.get("device_map"), quantize=kw.get("quantize"), max_memory=kw.get("max_memory"),
                compile=kw.get("compile_step") or "auto")


def visible(token: str) -> str:
    """Token text with spaces, newlines and tabs made visible."""
    return token.replace(" ", "␣").replace("\n", "↵").replace("\t", "⇥").replace("\r", "␍")


def emit_json(obj) -> None:
    json.dump(obj, sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")


def table(rows: list[list], headers: list[str]) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
