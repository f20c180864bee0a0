"""The studies' published figures (from ../shared/STUDY.md), keyed by our registry names, so a run on
one of the study's models shows the study's number beside ours."""
from __future__ import annotations

# West & Potts 2025, Table 3: chi-square of integers 0-10 over five paraphrases (8B)
TABLE3 = {"llama3.1-8b": [107, 120, 145, 164, 128], "tulu3-8b-sft": [983, 1307, 773, 775, 580],
          "tulu3-8b-dpo": [1774, 2116, 1461, 1158, 1377], "tulu3-8b": [1800, 2241, 1792, 1248, 1564],
          "llama3.1-8b-instruct": [9127, 8839, 7578, 5800, 7158]}
# Table 4: Base at T = 1, top-p = 1; the best aligned setting (Tulu-SFT at T = 2.5)
TABLE4 = {("llama3.1-8b", 1.0, 1.0): 137, ("tulu3-8b-sft", 2.5, 1.0): 149}
# Table 5: Qwen2.5, integers, paraphrase 0
TABLE5 = {"qwen2.5-7b": 792, "qwen2.5-7b-instruct": 10970, "qwen2.5-72b": 744, "qwen2.5-72b-instruct": 15000}
# Table 6: letters a-k, (chi-square, mode)
TABLE6 = {"llama3.1-8b": (78, "a"), "llama3.1-8b-instruct": (1158, "e"), "tulu3-8b-dpo": (614, "j"),
          "tulu3-8b-sft": (370, "j"), "tulu3-8b": (832, "j"), "llama3.1-70b": (193, "k"),
          "llama3.1-70b-instruct": (10513, "f"), "tulu3-70b-dpo": (1177, "f"), "tulu3-70b-sft": (709, "f"),
          "tulu3-70b": (1231, "f")}
# Table 7: Tulu-3-8B-RM reward per integer answer 0..10
TABLE7 = {"tulu3-8b-rm": [3.98, 4.37, 4.99, 5.15, 5.19, 5.03, 5.26, 5.29, 5.28, 5.01, 4.23]}
# Table 1: sequences of ten, pooled chi-square
TABLE1 = {"llama3.1-8b": 13.9, "llama3.1-8b-instruct": 115.1, "tulu3-8b-dpo": 100.8, "tulu3-8b-sft": 52.3,
          "tulu3-8b": 129.1, "llama3.1-70b": 29.2, "llama3.1-70b-instruct": 43.6, "tulu3-70b-dpo": 22.9,
          "tulu3-70b-sft": 21.8, "tulu3-70b": 18.3}
# Table 2: games, (RPS win, tie, loss, net; H&S win, loss, net), in %
TABLE2 = {"llama3.1-8b": (26.3, 25.9, 47.9, -21.6, 66.9, 33.1, 33.8),
          "llama3.1-8b-instruct": (20.9, 21.3, 57.8, -36.9, 43.5, 56.5, -13.0),
          "tulu3-8b-dpo": (23.2, 18.7, 58.1, -34.9, 25.0, 75.0, -50.0),
          "tulu3-8b-sft": (26.0, 22.5, 51.4, -25.4, 40.9, 59.1, -18.2),
          "tulu3-8b": (21.3, 17.3, 61.4, -40.1, 22.4, 77.6, -55.2),
          "llama3.1-70b": (34.4, 16.2, 49.4, -15.0, 75.5, 24.5, 51.0),
          "llama3.1-70b-instruct": (17.0, 15.9, 67.1, -50.1, 31.0, 69.0, -38.0),
          "tulu3-70b-dpo": (21.2, 23.6, 55.2, -34.0, 34.9, 65.1, -30.2),
          "tulu3-70b-sft": (26.4, 25.9, 47.7, -21.3, 53.1, 46.9, 6.2),
          "tulu3-70b": (22.3, 21.8, 55.9, -33.6, 33.2, 66.8, -33.6)}
UNIFORM_GAMES = {"rps": 0.0, "hide-seek": 71.4}
# the study's annotator agreement, as our issue tracker cites it ("per-axis 0.33 / 0.27 / 0.67"); neither
# shared/STUDY.md nor that citation says which axis has which value, so it is shown as the three values
POETRY_KAPPAS = (0.33, 0.27, 0.67)
POETRY_KAPPA_NOTE = ("the study's annotators: Cohen's kappa 0.33 / 0.27 / 0.67 over its three axes (as cited to us; "
                     "which axis has which value is not in our source)")


def study_name(spec: str) -> str | None:
    """The registry name of a study model (any spelling, hub id), else None."""
    from ..kernels.models.registry import lookup
    entry = lookup(spec) if spec else None
    return entry.name if entry is not None and not entry.hub_id.startswith("embedded:") and entry.kind != "oracle" \
        else None
