"""Semantic diversity of open-ended generations (Mohammadi 2024, "Grace Hopper was", n_predict 128):
`samples` continuations per model through the generation kernel, then the measures of
`probes.diversity` on their texts (embeddings from the packaged all-MiniLM-L6-v2) and one 2-D map
of both models' texts.

The prompt is the study's. Each model is prompted in its own format unless `--format` says otherwise.
"""
from __future__ import annotations

import time
from pathlib import Path

PROMPT = "Grace Hopper was"
SOURCE = "prompt from Mohammadi 2024 (semantic variation experiment)"


def run_diversity(models, *, prompt=PROMPT, samples=100, max_new_tokens=128, temperature=1.0, top_p=1.0, seed=0,
                  out="results", load=None, log=None) -> list[dict]:
    from ...kernels.models.sentence import embed, model_name, model_path
    from ...probes.diversity import text_measures
    from .open_text import check_args, generated
    from ..results import write_summary

    check_args(samples=samples, max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, prompt=prompt,
               min_samples=2)
    model_path()                                       # fail before generating when the extra is missing
    rows = []
    for spec in models:
        t0 = time.perf_counter()
        lm, rf, _, recs = generated(spec, "diversity", prompt, samples=samples, max_new_tokens=max_new_tokens,
                                    temperature=temperature, top_p=top_p, seed=seed, out=out, load=load,
                                    source=SOURCE, log=log)
        texts = [r["text"].strip() for r in recs]
        emb = embed(texts)
        measures = text_measures(texts, emb, seed)
        row = {"model": lm.spec, "format": lm.format.name, "prompt": prompt, "temperature": temperature, "top_p": top_p,
               "seed": seed, "embedding_model": model_name(), **measures,
               "seconds": round(time.perf_counter() - t0, 1), "results": str(rf.path)}
        with rf.open({}) as fh:
            write_summary(fh, row)
        rows.append({**row, "_texts": texts, "_emb": emb})
    return rows


def diversity_map(rows, out, seed=0) -> Path | str:
    """Both models' texts on one 2-D map, coloured by model (PNG, named by the run:
    `report.outputs.diversity_map`), and a `.json` beside it naming the runs."""
    import json

    import numpy as np

    from ...probes.diversity import map_2d
    from ...report.outputs import diversity_map as map_path
    from ...report.plots import scatter_map
    emb = np.concatenate([r["_emb"] for r in rows])
    xy, method = map_2d(emb, seed)
    groups, start = [], 0
    for r in rows:
        n = len(r["_texts"])
        groups.append((r["model"], xy[start:start + n], r["clusters"]["labels"]))
        start += n
    path = map_path([r["results"] for r in rows], rows[0]["texts"])
    got = scatter_map(groups, path, f"{rows[0]['prompt']!r}: sentence embeddings ({method}), colour = model, "
                                    "marker = its cluster")
    if isinstance(got, Path):
        path.with_suffix(".json").write_text(json.dumps({"results": [r["results"] for r in rows],
                                                         "models": [r["model"] for r in rows],
                                                         "texts": [r["texts"] for r in rows], "method": method}))
    return got
