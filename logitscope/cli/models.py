"""`probe models`: aliases and the registry, with what is available offline."""
from __future__ import annotations

import click

from .common import emit_json, table


@click.command()
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def models(as_json):
    """List embedded aliases, the uniform oracle and the studies' models."""
    from ..kernels.availability import availability
    from ..kernels.registry import ENTRIES
    rows = [dict(name=e.name, hub_id=e.hub_id, format=e.format, kind=e.kind, available=availability(e),
                 note=e.note) for e in ENTRIES]
    if as_json:
        emit_json(rows)
        return
    click.echo(table([[r["name"], r["hub_id"] if r["hub_id"] != r["name"] else "", r["format"], r["kind"],
                       r["available"]] for r in rows], ["name", "hub id", "format", "kind", "offline"]))
