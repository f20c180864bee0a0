"""The `uniform` oracle: an LM-like reference that gives every answer equal probability.

It stands wherever a model does (answers, sessions, games) and gives each table its reference
row: RPS net 0, hide-and-seek net 71.4, expected chi-square k-1 for k answers.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class UniformLM:
    name: str = "uniform"
    spec: str = "uniform"
    is_oracle: bool = True
    info: dict = field(default_factory=lambda: {"spec": "uniform", "kind": "oracle"})
