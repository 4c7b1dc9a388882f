"""What every opportunity rule shares: its inputs, the techniques it may name, ``offer``.

A rule may only point at a technique listed in ``SuggestedTechnique``; mypy checks each name a
rule passes to ``offer`` against it, and ``tests/agents/analysis/test_opportunity_names.py``
checks that every listed name is registered (``load_techniques()``), so the planner can act on
every opportunity the analysis reports.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, get_args

import numpy as np

from embodied_ai_architect.agents.analysis.runtime_probe import GraphOptimization
from embodied_ai_architect.agents.analysis.structure import ModelStructure
from embodied_ai_architect.schemas.profile import (
    Capability,
    FamilyDetection,
    LatencyStats,
    LayerSensitivity,
    Opportunity,
)

WeightReader = Callable[[str], np.ndarray | None]

SuggestedTechnique = Literal[
    "distill",
    "fold_batchnorm",
    "lowrank_svd",
    "nas_search",
    "onnx_graph_optimize",
    "openvino_int8",
    "ort_fp16",
    "ort_int4_gptq",
    "ort_int4_rtn",
    "ort_int8_dynamic",
    "ort_int8_static",
    "pack_zstd",
    "prune_magnitude",
    "prune_structured",
    "torch_int8_dynamic",
    "weight_sharing",
]
SUGGESTED_TECHNIQUES: frozenset[str] = frozenset(get_args(SuggestedTechnique))


@dataclass
class OpportunityInputs:
    structure: ModelStructure
    family: FamilyDetection
    capabilities: list[Capability]
    sensitivity: list[LayerSensitivity] = field(default_factory=list)
    latency: list[LatencyStats] = field(default_factory=list)
    graph_optimization: GraphOptimization | None = None
    read_weight: WeightReader | None = None


def offer(
    technique: SuggestedTechnique, title: str, rationale: str, expected_gain: str, score: float
) -> Opportunity:
    """One opportunity; the only place rules build them, so every name is checked."""
    return Opportunity(
        technique=technique,
        title=title,
        rationale=rationale,
        expected_gain=expected_gain,
        score=round(score, 2),
    )


def mb(num_bytes: float) -> str:
    return f"{num_bytes / 1e6:.1f} MB" if num_bytes >= 1e5 else f"{num_bytes / 1e3:.1f} kB"
