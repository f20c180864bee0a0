"""The determinism probe (West & Potts 2025, Figure 4 and Table 2): play each model's games,
write per-game records and a summary (net score, outcome rates, determinism overall and after a
win / loss / tie), split across processes under `accelerate launch` or `torchrun`."""
from __future__ import annotations

from ... import progress as progress_of
from ...errors import UserError
from .play import run_model
from .rules import Game, get_game


def summary(lm, game: Game, records: list[dict], *, adversary: str, seconds: float | None = None) -> dict:
    from ...probes.determinism import summarise, uniform_expected_net
    row = {"model": lm.spec, "game": game.name, "adversary": adversary, **summarise(records)}
    if getattr(lm, "is_oracle", False):
        row["expected_net_score"] = uniform_expected_net(game.name, len(game.moves))
    if seconds is not None:
        row["seconds"] = round(seconds, 1)
    return row


def run_determinism(models, game_name: str, *, games=500, rounds=10, seed=0, out="results", adversary="exact",
                    batch_size=None, min_mass=1e-4, load=None, progress=True) -> list[dict]:
    """The determinism probe for each model: play, write per-game records and a summary.

    Under `accelerate launch` or `torchrun` (WORLD_SIZE > 1) every process plays its share of
    the games (accelerate's `split_between_processes`) into its own `.rankN` shard; the main
    process then merges the shards into the same summary one process would write, and returns
    the rows (the other processes return none)."""
    import time

    from ..results import as_lm, write_summary

    game = get_game(game_name)
    if games < 1 or rounds < 1:
        raise UserError("--games and --rounds must be at least 1")
    state = _distributed()
    rows = []
    for spec in models:
        lm = as_lm(spec, load)
        t0 = time.perf_counter()
        indices, rank = None, None
        if state is not None:
            with state.split_between_processes(list(range(games))) as mine:
                indices, rank = list(mine), state.process_index
        main = state is None or state.is_main_process
        mine = games if indices is None else len(indices)      # a bar of rounds, and games done beside them
        bar = progress_of.bar(mine * rounds, f"{lm.spec} {game.name}", "rounds") if progress and main else None
        try:
            records, rf = run_model(lm, game, games=games, rounds=rounds, seed=seed, out=out, adversary=adversary,
                                    batch_size=batch_size, min_mass=min_mass, progress=bar, indices=indices, rank=rank)
        finally:
            if bar:
                bar.close()
        if state is not None:
            state.wait_for_everyone()
            if not main:
                continue
            rf = rf.__class__(out, f"determinism-{game.name}", lm.spec, rf.config)   # the merged view
            done = rf.done("game")
            missing = [g for g in range(games) if g not in done]
            if missing:
                raise UserError(f"{len(missing)} games missing after the processes finished (first: {missing[0]})")
            records = [done[g] for g in range(games)]
        row = summary(lm, game, records, adversary=adversary, seconds=time.perf_counter() - t0)
        if state is not None:
            row["processes"] = state.num_processes
        row["results"] = str(rf.path)
        with rf.open({}) as fh:
            write_summary(fh, row)
        rows.append(row)
        del lm
    return rows


def _distributed():
    """accelerate's PartialState when launched with several processes (gloo on CPU), else None."""
    import os
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return None
    import torch
    from accelerate import PartialState
    return PartialState(cpu=not torch.cuda.is_available())
