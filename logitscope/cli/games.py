"""`probe determinism`: games against the greedy adversary, and the determinism table."""
from __future__ import annotations

import click

from ..limits import BATCH, COUNT, MIN_MASS, ROUNDS, SEED
from .common import emit_json, load_kwargs, load_options, ranged, table

DEFAULT_MODELS = ("embedded:base", "embedded:aligned", "uniform")


def determinism_table(rows: list[dict]) -> str:
    """One row per model; the columns, units and formats of the report's games table (`game_cells`)."""
    from ..report.numbers import GAME_HEADERS, game_cells
    return table([[r["model"], *game_cells(r), r["games"]] for r in rows], ["model", *GAME_HEADERS, "games"])


@click.command()
@click.option("--game", type=click.Choice(["rps", "hide-seek"]), default="rps", show_default=True)
@click.option("--model", "-m", "models", multiple=True,
              help="repeatable; default: embedded:base, embedded:aligned and the uniform oracle")
@click.option("--games", default=50, show_default=True, type=ranged(COUNT), help="games per model (the study: 500)")
@click.option("--rounds", default=10, show_default=True, type=ranged(ROUNDS))
@click.option("--seed", default=0, show_default=True, type=ranged(SEED))
@click.option("--adversary", type=click.Choice(["exact", "first-token"]), default="exact", show_default=True,
              help="how the adversary reads the model's move probabilities (the study: first-token)")
@click.option("--batch-size", default=None, type=ranged(BATCH), help="games per KV-cache session (default: from free memory)")
@click.option("--min-mass", default=1e-4, show_default=True, type=ranged(MIN_MASS),
              help="prune answer branches below this mass (reported as unexplored)")
@click.option("--out", default="results", show_default=True, help="result directory (rerun to resume)")
@click.option("--json", "as_json", is_flag=True, help="print the summary as JSON")
@load_options
def determinism(game, models, games, rounds, seed, adversary, batch_size, min_mass, out, as_json, **kw):
    """Play rock-paper-scissors or hide-and-seek against a greedy adversary that reads the model's
    move probabilities; print net score, outcome rates and determinism per model."""
    from ..tasks.games.determinism import run_determinism
    rows = run_determinism(models or DEFAULT_MODELS, game, games=games, rounds=rounds, seed=seed, out=out,
                           adversary=adversary, batch_size=batch_size, min_mass=min_mass, load=load_kwargs(kw))
    if not rows:        # a data-parallel worker: the main process prints the merged table
        return
    if as_json:
        emit_json(rows)
        return
    from ..probes.determinism import NET_CI
    from ..report.numbers import GAME_LEGEND
    click.echo(f"{game}: {games} games x {rounds} rounds, seed {seed}, adversary reads {adversary} move probabilities")
    click.echo(determinism_table(rows))
    for line in GAME_LEGEND:
        click.echo(line)
    click.echo(f"net's 95% CI: {NET_CI}")
    for r in rows:
        if "expected_net_score" in r:
            click.echo(f"uniform play: expected net {r['expected_net_score']:+.1f} (analytic)")
    click.echo(f"per-game records and summaries: {out}/determinism-{game}/")
