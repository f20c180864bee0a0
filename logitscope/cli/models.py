"""`probe models` (aliases and the registry, with what is available offline) and `probe plan`
(weights, KV bytes per token, games per batch and a device map, from the config alone)."""
from __future__ import annotations

import click

from ..limits import CONTEXT, COUNT, GPUS, ROUNDS
from .common import emit_json, ranged, table


@click.command()
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def models(as_json):
    """List embedded aliases, the uniform oracle and the studies' models."""
    from ..kernels.models.availability import availability
    from ..kernels.models.registry import ENTRIES
    rows = [dict(name=e.name, hub_id=e.hub_id, format=e.format, kind=e.kind, available=availability(e),
                 note=e.note) for e in ENTRIES]
    if as_json:
        emit_json(rows)
        return
    click.echo(table([[r["name"], r["hub_id"] if r["hub_id"] != r["name"] else "", r["format"], r["kind"],
                       r["available"]] for r in rows], ["name", "hub id", "format", "kind", "offline"]))


def _gb(n: float) -> str:
    return f"{n / 1e9:.1f} GB ({n / 2**30:.1f} GiB)"


@click.command()
@click.argument("model")
@click.option("--quantize", type=click.Choice(["none", "fp8", "int8"]), default="none", show_default=True)
@click.option("--gpus", default=1, show_default=True, type=ranged(GPUS))
@click.option("--gpu-memory", default="80GiB", show_default=True, help="memory per GPU, e.g. 48GiB")
@click.option("--games", default=500, show_default=True, type=ranged(COUNT))
@click.option("--rounds", default=10, show_default=True, type=ranged(ROUNDS))
@click.option("--game-tokens", default=None, type=ranged(CONTEXT), help="tokens of the longest game (default: an estimate)")
@click.option("--json", "as_json", is_flag=True)
def plan(model, quantize, gpus, gpu_memory, games, rounds, game_tokens, as_json):
    """Plan memory from MODEL's config alone (no weights): a registry name, a shipped shape
    (llama-3.1-8b, llama-3.1-70b, qwen2.5-7b, qwen2.5-72b, tulu-3-8b-rm) or a config.json path."""
    from ..errors import UserError
    from ..kernels.models.plan import plan as make_plan
    if gpus < 1 or games < 1:
        raise UserError("--gpus and --games must be at least 1")
    p = make_plan(model, quantize=quantize, gpus=gpus, gpu_memory=gpu_memory, games=games, rounds=rounds,
                  game_tokens=game_tokens)
    if as_json:
        emit_json(p)
        return
    w = p["weight_bytes"]
    click.echo(f"{p['model']}  [{p['architecture']}; config: {p['config']}]")
    click.echo(f"parameters      {p['parameters'] / 1e9:.2f} B")
    click.echo(f"weights         bf16 {_gb(w['bf16'])}   fp8 {_gb(w['fp8'])}   int8 {_gb(w['int8'])}")
    click.echo(f"KV cache        {p['kv_bytes_per_token_bf16'] / 1024:.0f} KiB per token (bf16); longest game "
               f"~{p['game_tokens']} tokens -> {p['kv_bytes_per_game'] / 2**20:.0f} MiB per game with the answer tree")
    click.echo(f"GPUs            {p['gpus']} x {p['gpu_memory_bytes'] / 2**30:.0f} GiB; weights in {p['quantize']}")
    if not p["fits"]:
        click.echo(f"does not fit: short by {_gb(p['short_by_bytes'])} "
                   f"(try --quantize fp8, more --gpus, or larger --gpu-memory)")
        return
    click.echo(f"games per batch {p['games_per_batch']} of {p['games']}"
               + (f" ({-(-p['games'] // p['games_per_batch'])} batches)" if p["games_per_batch"] < p["games"] else ""))
    click.echo("device map      " + "; ".join(f"{d}: {m}" for d, m in p["device_map"].items()))
