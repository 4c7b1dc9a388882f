"""Planning skips what cannot win the run: a never-faster technique under the latency objective."""

from __future__ import annotations

import pytest
from tests.agents.planning.test_planner import _input

from embodied_ai_architect.agents.optimization.base import get_technique
from embodied_ai_architect.agents.planning.planner import applicable_techniques
from embodied_ai_architect.agents.planning.priors import best_effect
from embodied_ai_architect.schemas.constraints import Constraints


def _usable(constraints: Constraints) -> tuple[set[str], list[str]]:
    inp = _input(constraints, framework="onnx", has_training_data=False)
    usable, skipped = applicable_techniques(inp)
    return {u.spec.name for u in usable}, skipped


def test_lossless_packing_is_never_faster() -> None:
    spec = get_technique("pack_zstd")
    assert best_effect(spec).latency == 1.0 and best_effect(spec).size < 1.0


def test_a_never_faster_technique_is_skipped_only_when_speed_alone_can_win() -> None:
    spec = get_technique("pack_zstd")
    ok, why = spec.availability()
    if not ok:
        pytest.skip(f"pack_zstd unavailable here: {why}")
    names, skipped = _usable(Constraints(max_accuracy_drop=2))
    assert "pack_zstd" not in names
    assert any(s.startswith("pack_zstd: never faster") for s in skipped)
    assert "onnx_graph_optimize" in names  # a clean-up that can be faster stays
    # A size limit or the size objective can use a smaller, equally fast version.
    assert "pack_zstd" in _usable(Constraints(max_accuracy_drop=2, max_size_mb=50))[0]
    assert "pack_zstd" in _usable(Constraints(max_accuracy_drop=2, objective="size"))[0]
    assert "pack_zstd" in _usable(Constraints(max_accuracy_drop=2, objective="balanced"))[0]
