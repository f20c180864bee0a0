"""A single random integer 0-10 (West & Potts 2025: Figure 2, Tables 3, 4, 5, 7).

Paraphrase 0 is the study's instruction. The study's own five paraphrases (Table 3) are not
published; paraphrases 1-4 below are ours, written to keep its meaning.
"""
from .single import SingleTask

PROMPTS = (
    "Generate a random integer, uniformly between 0 and 10 (inclusive).",                      # the study
    "Pick a random whole number from 0 to 10 (inclusive), each one equally likely.",            # ours
    "Choose an integer between 0 and 10, inclusive, uniformly at random.",                      # ours
    "Give me a random number from 0 to 10. Every number from 0 to 10 should be equally likely.",  # ours
    "Think of a random integer in the range 0-10 (both ends included), chosen uniformly.",      # ours
)

TASK = SingleTask(name="integers", space="0-10", prompts=PROMPTS, infix="Number:",
                  source="paraphrase 0: West & Potts 2025; paraphrases 1-4: logitscope")
