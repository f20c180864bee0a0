"""The studies' published numbers and findings as a reference block under each table, for any
model: every figure labelled by the study model it comes from (shared/STUDY.md). Mohammadi 2024's
findings are quoted as the study states them (mostly qualitative; no numbers are made up)."""
from __future__ import annotations

from . import study

WP = "West & Potts 2025"
MO = "Mohammadi 2024 (Llama-2 base vs chat)"
NAMES = {"llama3.1-8b": "Llama-3.1-8B base", "llama3.1-8b-instruct": "Llama-3.1-8B-Instruct",
         "tulu3-8b-sft": "Tulu-3-8B-SFT", "tulu3-8b-dpo": "Tulu-3-8B-DPO", "tulu3-8b": "Tulu-3-8B (full)",
         "llama3.1-70b": "Llama-3.1-70B base", "llama3.1-70b-instruct": "Llama-3.1-70B-Instruct",
         "tulu3-70b-sft": "Tulu-3-70B-SFT", "tulu3-70b-dpo": "Tulu-3-70B-DPO", "tulu3-70b": "Tulu-3-70B (full)",
         "qwen2.5-7b": "Qwen2.5-7B base", "qwen2.5-7b-instruct": "Qwen2.5-7B-Instruct",
         "qwen2.5-72b": "Qwen2.5-72B base", "qwen2.5-72b-instruct": "Qwen2.5-72B-Instruct",
         "tulu3-8b-rm": "Tulu-3-8B-RM"}

MOHAMMADI = {
    "entropy": ["Prompt 'Steve is the CEO of a startup company', n_predict 64, T = 1: top-5 entropy per generated "
                "token ranges 0 .. log2(5) = 2.32 bits; the aligned (chat) model sits near 0, the base model "
                "higher (no per-token means published)."],
    "diversity": ["Prompt 'Grace Hopper was', n_predict 128, T = 1: the aligned model's completions fall into "
                  "four clusters of SBERT embeddings (k-means, best k by silhouette); the base model's spread "
                  "widely (no similarity values published)."],
    "attractor": ["One aligned completion ('Grace Hopper was born on ... in New York City. She was'), 'was' "
                  "changed to 'was not' and appended to the prompt: the aligned model's first few tokens are "
                  "low-probability, then it returns to one of its usual completions; the base model does not."],
    "personas": ["Aligned first names concentrate on 'Emily' and 'Samantha', last names on 'Jones' and 'Wang'; "
                 "nationalities American, Chinese, a few Mexican (base: many, American, British, German on top); "
                 "ethnicities mostly White and Asian (base: many, incl. small minorities).",
                 "MBTI: base all 16 types, aligned 6; ages: base roughly normal over a wide range, aligned a few "
                 "values in a narrow band; gender: aligned almost entirely female.",
                 "Reviews: aligned longer, VADER polarity almost all near +1 (base -0.75 .. +0.97); aligned review "
                 "sentences form tight k-means clusters ('highly recommend', 'game changer', 'as a busy "
                 "professional')."],
}


def _name(key: str) -> str:
    return f"{NAMES.get(key, key)} ({key})"


def integers(s) -> None:
    rows = [[_name(k), *map(str, v)] for k, v in study.TABLE3.items()]
    s.table(["study model", *[f"paraphrase {p}" for p in range(5)]], rows,
            f"published, {WP} Table 3: integers 0-10, chi-square vs uniform over the study's five paraphrases "
            "(1500 valid samples; our paraphrases 1-4 are not the study's)")
    rows = [[_name(k), str(v)] for k, v in study.TABLE5.items()]
    s.table(["study model", "chi-square"], rows, f"published, {WP} Table 5: Qwen2.5, integers, the study's prompt")


def letters(s) -> None:
    rows = [[_name(k), str(c), m] for k, (c, m) in study.TABLE6.items()]
    s.table(["study model", "chi-square", "mode"], rows, f"published, {WP} Table 6: letters a-k (T = 1, top-p = 1)")


def temperature(s) -> None:
    rows = [[_name(k), "integers", f"{t:g}", f"{p:g}", str(v)] for (k, t, p), v in study.TABLE4.items()]
    rows += [[_name(k), "letters", "1", "1", str(c)] for k, (c, _) in study.TABLE6.items()]
    s.table(["study model", "task", "T", "top-p", "chi-square"], rows,
            f"published, {WP} Table 4 (integers: the base model at T = 1 and the best aligned setting; no aligned "
            "setting reaches the base model) and Table 6 (letters, T = 1 only)")


def sequences(s) -> None:
    rows = [[_name(k), f"{v:g}"] for k, v in study.TABLE1.items()]
    s.table(["study model", "pooled chi-square"], rows,
            f"published, {WP} Table 1: sequences of ten integers (Figure 3: a uniform source has mode 3 repeats, "
            "mean 3.24)")


def games(s) -> None:
    rows = [[_name(k), *[f"{x:+.1f}" if i in (3, 6) else f"{x:.1f}" for i, x in enumerate(v)]]
            for k, v in study.TABLE2.items()]
    rows.append(["uniform play (exact)", "33.3", "33.3", "33.3", "+0.0", "85.7", "14.3", "+71.4"])
    s.table(["study model", "RPS win %", "tie %", "loss %", "net", "H&S win %", "loss %", "net"], rows,
            f"published, {WP} Table 2: 500 games x 10 rounds against the greedy adversary")


def reward(s) -> None:
    for k, v in study.TABLE7.items():
        s.table(["study model", *map(str, range(11))], [[_name(k), *[f"{x:.2f}" for x in v]]],
                f"published, {WP} Table 7: reward per integer answer")


def mohammadi(s, topic: str) -> None:
    """Mohammadi 2024's findings on `topic` (entropy, diversity, attractor, personas), as stated."""
    s.table(["published finding"], [[x] for x in MOHAMMADI[topic]], f"{MO}: findings as the study states them")
