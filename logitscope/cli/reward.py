"""`probe reward`: score outputs with a reward model (default: the Tulu-3-8B reward model)."""
from __future__ import annotations

import click

from .common import emit_json, load_kwargs, table


@click.command()
@click.option("--rm", "rm_spec", default="tulu3-8b-rm", show_default=True,
              help="reward model: registry name, local sequence-classification dir, or cached hub id")
@click.option("--input", "input_path", default=None, help="JSON lines with prompt + response (or messages)")
@click.option("--output", "output_path", default=None, help="default: INPUT with .rewards.jsonl (rerun resumes)")
@click.option("--prompt", default=None, help="score a single pair: the prompt ...")
@click.option("--response", default=None, help="... and the response")
@click.option("--task", default=None, type=click.Choice(["integers", "letters"]),
              help="reward of each of the task's answers, and its correlation with --model's answer probabilities")
@click.option("--model", "-m", "models", multiple=True, help="models to correlate with (--task); repeatable")
@click.option("--template", type=click.Choice(["auto", "tulu", "chat"]), default="auto", show_default=True,
              help="auto: the RM tokenizer's chat template if it has one, else <|user|>/<|assistant|> (Tulu)")
@click.option("--batch-size", default=8, show_default=True)
@click.option("--out", default="results", show_default=True, help="result directory for --task")
@click.option("--dtype", default=None, help="fp32 | bf16 | fp16 (default fp32 on CPU, bf16 on GPU)")
@click.option("--device", default=None)
@click.option("--device-map", default=None, help="auto | balanced | FILE.json (accelerate)")
@click.option("--max-memory", default=None, help="with --device-map: 0=40GiB,1=40GiB,cpu=100GiB")
@click.option("--quantize", type=click.Choice(["none", "fp8", "int8"]), default="none")
@click.option("--json", "as_json", is_flag=True)
def reward(rm_spec, input_path, output_path, prompt, response, task, models, template, batch_size, out, as_json, **kw):
    """Score (prompt, response) pairs with a reward model: a JSONL file, one pair, or a task's answers."""
    from ..errors import UserError
    modes = sum(x is not None for x in (input_path, task)) + (prompt is not None or response is not None)
    if modes != 1:
        raise UserError("give one of --input FILE, --prompt P --response R, or --task integers|letters")
    if (prompt is None) != (response is None):
        raise UserError("--prompt and --response go together")
    if batch_size < 1:
        raise UserError("--batch-size must be at least 1")
    from ..kernels.reward import load_reward_model, score
    load = {k: v for k, v in load_kwargs(kw).items() if k != "fmt"}
    rm = load_reward_model(rm_spec, template=template, **load)
    if prompt is not None:
        s = score(rm, [(prompt, response)])[0]
        emit_json({"reward": s, "reward_model": rm.spec}) if as_json else click.echo(f"{s:.4f}")
        return
    if input_path:
        from ..probes.reward import score_file
        output_path = output_path or (input_path[:-6] if input_path.endswith(".jsonl") else input_path) + ".rewards.jsonl"
        res = score_file(rm, input_path, output_path, batch_size=batch_size, log=lambda m: click.echo(m, err=True))
        emit_json(res) if as_json else click.echo(
            f"scored {res['scored']} (resumed {res['resumed']}, skipped {res['skipped']} malformed) -> {res['output']}")
        return
    from ..tasks.reward import task_rewards
    res = task_rewards(rm, task, models, batch_size=batch_size, load=load_kwargs(kw), out=out)
    if as_json:
        emit_json(res)
        return
    labels = list(res["rewards"])
    rows = [["reward", *[f"{res['rewards'][a]:.3f}" for a in labels], "", ""]]
    for m in res["models"]:
        rows.append([m["model"], *[f"{m['probs'][a]:.3f}" for a in labels],
                     "-" if m["pearson"] is None else f"{m['pearson']:+.2f}",
                     "-" if m["spearman"] is None else f"{m['spearman']:+.2f}"])
    click.echo(f"{task}: reward of each answer to {res['prompt']!r} ({rm.spec}); rows below: P(answer | valid)")
    click.echo(table(rows, ["", *labels, "pearson", "spearman"]))
    click.echo(f"highest reward: {res['best']}")
