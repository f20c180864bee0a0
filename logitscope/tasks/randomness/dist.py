"""The `dist` task: one prompt, its next-token distribution and (optionally) its answers."""
from __future__ import annotations

from ...errors import UserError


def run_dist(model: str, prompt: str, *, infix="", top_k=10, answers=None, method="exact",
             temperature=1.0, top_p=1.0, min_mass=1e-6, **load) -> dict:
    import torch

    from ...kernels.engine.answers import answer_distribution, prefill
    from ...kernels.models.loading import load_model
    from ...kernels.engine.spaces import parse_answers
    from ...probes.stats import entropy_from_logprobs_bits, topk_entropy_bits

    from ...kernels.engine.sampling import check_settings, transform
    if not prompt.strip():
        raise UserError("empty prompt")
    if top_k < 1:
        raise UserError(f"--top-k must be at least 1 (got {top_k})")
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
    lp = transform(roots.logprobs[0].cpu(), temperature, top_p)      # the table shows what sampling would draw from
    probs = lp.double().exp()
    top = torch.topk(probs, min(top_k, probs.numel()))
    out.update({
        "format": lm.format.name, "infix": infix, "prompt_text": lm.tokenizer.decode(ids),
        "prompt_tokens": len(ids), "temperature": temperature, "top_p": top_p, "top_k": top_k,
        "top": [{"token_id": int(i), "token": lm.tokenizer.decode([int(i)]), "prob": float(p)}
                for p, i in zip(top.values, top.indices)],
        "mass_below": max(0.0, 1.0 - float(top.values.sum())),
        "entropy_bits": entropy_from_logprobs_bits(lp.numpy()),
        "top5_entropy_bits": topk_entropy_bits(probs.numpy(), 5),
    })
    if space is not None:
        d = answer_distribution(lm, ids, space, method=method, temperature=temperature, top_p=top_p,
                                min_mass=min_mass)
        out.update(d.to_json())
    return out
