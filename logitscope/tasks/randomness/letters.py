"""A single random letter a-k (West & Potts 2025, Table 6). Either case counts.

The study's letter prompt follows its integer instruction; the wording here (paraphrase 0) is
ours in that shape, and so are paraphrases 1-4.
"""
from .single import SingleTask

PROMPTS = (
    "Generate a random letter, uniformly between a and k (inclusive).",
    "Pick a random letter from a to k (inclusive), each one equally likely.",
    "Choose a letter between a and k, inclusive, uniformly at random.",
    "Give me a random letter from a to k. Every letter from a to k should be equally likely.",
    "Think of a random letter in the range a-k (both ends included), chosen uniformly.",
)

TASK = SingleTask(name="letters", space="a-k", prompts=PROMPTS, infix="Letter:",
                  source="all paraphrases: logitscope, in the shape of West & Potts 2025's integer instruction")
