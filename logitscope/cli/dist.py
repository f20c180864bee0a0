"""`probe dist`: the next-token distribution, and with --answers the exact answer distribution."""
from __future__ import annotations

import click

from .common import emit_json, load_kwargs, load_options, table, visible


@click.command()
@click.option("--model", "-m", "model", default="embedded:aligned", show_default=True, help="model spec")
@click.option("--prompt", "-p", required=True, help="the user prompt")
@click.option("--infix", default="", help='text that opens the answer, e.g. "Number:"')
@click.option("--top", "top_k", default=10, show_default=True, help="how many next tokens to list")
@click.option("--answers", default=None, help="0-10 | 0-10+words | a-k | rps | hide-seek | FILE")
@click.option("--method", type=click.Choice(["exact", "first-token"]), default="exact", show_default=True)
@click.option("--temperature", default=1.0, show_default=True)
@click.option("--top-p", default=1.0, show_default=True)
@click.option("--min-mass", default=1e-6, show_default=True, help="prune branches below this mass (exact)")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@load_options
def dist(model, prompt, infix, top_k, answers, method, temperature, top_p, min_mass, as_json, **kw):
    """Show what the model would say next: top-K tokens, entropy, and exact answer probabilities."""
    from ..tasks.dist import run_dist
    out = run_dist(model, prompt, infix=infix, top_k=top_k, answers=answers, method=method,
                   temperature=temperature, top_p=top_p, min_mass=min_mass, **load_kwargs(kw))
    if as_json:
        emit_json(out)
        return
    click.echo(f"model {out['model']}  format {out['format']}  prompt {out['prompt_text']!r}")
    if out.get("top"):
        click.echo(f"next token at T={temperature:g}, top-p={top_p:g}")
        click.echo(table([[i + 1, t["token_id"], visible(t["token"]), f"{t['prob']:.4f}"]
                          for i, t in enumerate(out["top"])], ["#", "id", "token", "prob"]))
        click.echo(f"entropy {out['entropy_bits']:.3f} bits (full vocabulary)   "
                   f"top-5 entropy {out['top5_entropy_bits']:.3f} bits")
    if answers:
        label = "exact" if out["method"] == "exact" else "APPROXIMATE (first-token readout)"
        click.echo(f"\nanswers ({label}, T={temperature}, top-p={top_p})")
        click.echo(table([[a, f"{p:.5f}", f"{out['renormalised'][a]:.4f}"] for a, p in out["answers"].items()],
                         ["answer", "P(answer)", "P(answer | valid)"]))
        click.echo(f"valid {out['valid_mass']:.5f}   invalid {out['invalid_mass']:.5f}   "
                   f"unexplored {out['unexplored_mass']:.2e}   ({out['forwards']} forward passes)")
