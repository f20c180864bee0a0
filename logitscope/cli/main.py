"""The `probe` command group. User errors end with one line and exit status 1."""
from __future__ import annotations

import os
import sys

import click

# CUDA memory in growable segments: sessions and token trees allocate caches of many sizes, which
# fragment fixed segments (a 100-game run reserved 67 GB for 19 GB allocated); set before torch loads
os.environ.setdefault("PYTORCH_CUDA_ALLOC_CONF", "expandable_segments:True")

from ..errors import UserError
from .common import OutOfRange


class Group(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except UserError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        except OutOfRange as exc:            # an option outside its declared range (limits.py)
            click.echo(f"error: {exc.message}", err=True)
            sys.exit(1)
        except KeyboardInterrupt as exc:
            click.echo(interrupted_message(exc), err=True)
            sys.exit(130)
        except MemoryError:
            click.echo("error: out of memory; lower --batch-size or use a smaller --dtype", err=True)
            sys.exit(1)
        except RuntimeError as exc:
            if "out of memory" in str(exc).lower():
                click.echo("error: out of memory; lower --batch-size or use a smaller --dtype / --quantize", err=True)
                sys.exit(1)
            raise
        except OSError as exc:               # a file the user named that cannot be read or written
            if exc.filename is None or exc.strerror is None:
                raise
            click.echo(f"error: {exc.strerror}: {exc.filename}", err=True)
            sys.exit(1)


def interrupted_message(exc: BaseException) -> str:
    """Ctrl-C: every result file this command took, what each holds (models already finished too),
    and how to go on; without any, the task's own message, or that no file was written (`probe dist`,
    or a run stopped before its first result)."""
    from ..tasks.results import kept_lines
    lines = kept_lines()
    if not lines:
        return str(exc) or "interrupted: no result file was written (nothing to resume)"
    return "\n".join(["interrupted: the results written so far are kept:", *(f"  {x}" for x in lines),
                      "rerun the same command to resume"])


@click.group(cls=Group)
@click.version_option(package_name="logitscope")
@click.option("--quiet", "-q", is_flag=True, help="no progress bars or notes on stderr (results and errors only)")
def main(quiet):
    """logitscope: exact next-token and answer distributions of language models."""
    from ..tasks.results import forget
    forget()
    if quiet:
        from ..progress import set_quiet
        set_quiet(True)


def _register():
    from . import creativity, explore, games, models, poetry, randomness, report
    main.add_command(models.models)
    main.add_command(models.plan)
    main.add_command(randomness.dist)
    main.add_command(games.determinism)
    main.add_command(randomness.reward)
    main.add_command(poetry.poetry)
    main.add_command(report.report)
    main.add_command(report.compare)
    main.add_command(explore.explore)
    for cmd in (randomness.integers, randomness.letters, randomness.sequences, creativity.entropy,
                creativity.attractor, creativity.diversity, creativity.personas):
        main.add_command(cmd)


_register()
