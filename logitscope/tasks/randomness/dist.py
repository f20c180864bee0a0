"""The `dist` task: one prompt, its next-token distribution and (optionally) its answers."""
from __future__ import annotations

from ...errors import UserError


def run_dist(model: str, prompt: str, *, infix="", top_k=10, answers=None, method="exact",
             temperature=1.0, top_p=1.0, min_mass=1e-6, **load) -> dict:
    from ...kernels.engine.answers import answer_distribution, prefill
    from ...kernels.engine.nexttoken import MAX_K, summarise
    from ...kernels.engine.sampling import check_settings
    from ...kernels.engine.spaces import parse_answers
    from ...kernels.models.loading import load_model
    if not prompt.strip():
        raise UserError("empty prompt")
    if not 1 <= top_k <= MAX_K:
        raise UserError(f"--top-k must be between 1 and {MAX_K} (got {top_k})")
    check_settings(temperature, top_p)
    space = parse_answers(answers) if answers else None
    lm = load_model(model, **load)
    out = {"model": lm.name}
    if getattr(lm, "is_oracle", False):
        if space is None:
            raise UserError("the uniform oracle has no vocabulary; pass --answers")
        out.update({"format": None, "prompt_text": prompt, "top": []})
        out.update(answer_distribution(lm, prompt, space).to_json())
        return out
    ids = lm.encode(prompt, infix)
    from ...kernels.engine.forward import check_length
    check_length(lm, len(ids), f"the prompt ({len(ids)} tokens)")
    roots = prefill(lm, [ids])
    # the table shows what sampling would draw from: the explorer's next-token record (same numbers)
    nt = summarise(lm, ids, roots.logprobs[0], infix=infix, temperature=temperature, top_p=top_p, k=top_k).to_json()
    out.update({k: v for k, v in nt.items() if k != "model"})
    if space is not None:
        d = answer_distribution(lm, ids, space, method=method, temperature=temperature, top_p=top_p,
                                min_mass=min_mass)
        out.update(d.to_json())
    return out
