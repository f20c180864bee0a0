"""The shared step of every creativity task: sample N continuations of a prompt into a resumable
result file (generation records with per-token statistics), and the argument checks they share."""
from __future__ import annotations

from ...errors import UserError


def check_args(*, samples: int, max_new_tokens: int, temperature=1.0, top_p=1.0, prompt: str | None = None,
               min_samples: int = 1) -> None:
    """One clear line for settings no generation task can run with."""
    from ...kernels.engine.sampling import check_settings
    check_settings(temperature, top_p)
    if samples < min_samples:
        raise UserError(f"--samples must be at least {min_samples}"
                        + (" (diversity needs a pair of texts)" if min_samples > 1 else ""))
    if max_new_tokens < 1:
        raise UserError(f"--max-new-tokens must be at least 1 (got {max_new_tokens})")
    if prompt is not None and not prompt.strip():
        raise UserError("empty prompt")


def check_lm(lm) -> None:
    if getattr(lm, "is_oracle", False):
        raise UserError("the uniform oracle has no vocabulary to generate from; pass a model")


def generation_units(lm, rf, prompt_ids: list[int], samples: int, *, max_new_tokens: int, temperature=1.0,
                     top_p=1.0, seed=0, stop=None, greedy=False, extra=None, log=None) -> list[dict]:
    """Samples 0..samples-1 of continuations of `prompt_ids` as generation records, generated where
    the result file does not have them yet (written a batch at a time, so a kill loses one batch).
    A progress bar ticks on the token steps of the batch in flight and says the samples done beside
    them; samples already in the file are reported as a note through `log` (default `progress.note`)."""
    from ... import progress
    from ...kernels.engine.generate import default_batch, generate
    from ..results import append, provenance
    done = rf.done("index")
    todo = [i for i in range(samples) if i not in done]
    rf.wanted = samples
    if samples - len(todo):
        (log or progress.note)(f"{lm.spec}: " + progress.reused(samples - len(todo), samples, "samples")
                               + (f", {len(todo)} to generate" if todo else ""))
    if todo:
        batch = default_batch(lm, len(prompt_ids) + max_new_tokens)
        chunks = [todo[s:s + batch] for s in range(0, len(todo), batch)]
        with rf.open({"provenance": provenance(lm, seed), **(extra or {})}) as fh, \
                progress.bar(len(chunks) * max_new_tokens, f"{lm.spec}: generating", "token steps") as bar:
            bar.also(f"samples done {samples - len(todo)}/{samples}")
            steps = [0]

            def step(live):
                steps[0] += 1
                bar.update(1)
            for chunk in chunks:
                steps[0] = 0
                got = generate(lm, prompt_ids, indices=chunk, max_new_tokens=max_new_tokens, temperature=temperature,
                               top_p=top_p, seed=seed, stop=stop, greedy=greedy, batch_size=batch, on_step=step)
                bar.update(max_new_tokens - steps[0])            # the steps a batch that ended early skipped
                recs = [g.to_json(lm.tokenizer) for g in got]
                append(fh, recs)
                done.update({r["index"]: r for r in recs})
                bar.also(f"samples done {sum(i in done for i in range(samples))}/{samples}")
    return [done[i] for i in range(samples)]


def generated(spec, task: str, prompt, *, samples, max_new_tokens, temperature, top_p, seed, out, load, source,
              stop=None, config=None, log=None):
    """One model's `samples` continuations of `prompt` (a string, or a function of the LM that gives
    one) in the task's resumable result file: (lm, result file, prompt ids, records)."""
    from ..results import ResultFile, as_lm, model_config
    lm = as_lm(spec, load)
    check_lm(lm)
    text = prompt(lm) if callable(prompt) else prompt
    ids = lm.encode(text)
    cfg = {"task": task, "prompt": text, "max_new_tokens": max_new_tokens, "temperature": temperature,
           "top_p": top_p, "seed": seed, **(config or {}), **model_config(lm)}
    rf = ResultFile(out, task, lm.spec, cfg)
    recs = generation_units(lm, rf, ids, samples, max_new_tokens=max_new_tokens, temperature=temperature,
                            top_p=top_p, seed=seed, stop=stop, extra={"source": source}, log=log)
    return lm, rf, ids, recs
