"""Graphs whose nodes have no names (onnx.helper, some converters): the sensitivity ranking and
the quantizer name them the same way, so mixed precision can keep a ranked layer in FP32."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tests.api.live import tiny_onnx_bytes

from embodied_ai_architect.agents.analysis import analyze_model
from embodied_ai_architect.agents.base import AgentContext
from embodied_ai_architect.agents.optimization.base import TechniqueContext, apply_technique
from embodied_ai_architect.data.calibration import random_provider
from embodied_ai_architect.modelio.loader import load_model
from embodied_ai_architect.schemas.analysis import AnalysisRequest
from embodied_ai_architect.settings import Settings


def test_a_ranked_unnamed_layer_is_kept_in_fp32(tmp_path: Path) -> None:
    import onnx

    path = tmp_path / "mlp.onnx"
    path.write_bytes(tiny_onnx_bytes(inputs=32, hidden=64, outputs=8, seed=3))
    assert not any(node.name for node in onnx.load(str(path)).graph.node)
    handle = load_model(path)
    profile = analyze_model(
        AnalysisRequest(handle=handle, measure_latency=False, sensitivity_top_k=2),
        AgentContext(settings=Settings(workspace=tmp_path / "ws")),
    )
    ranked = [entry.layer for entry in profile.sensitivity]
    assert ranked and all(name.startswith("Gemm_") for name in ranked)
    ctx = TechniqueContext(
        workdir=tmp_path / "work",
        calibration=random_provider(handle.inputs, num_samples=16, seed=0),
        profile=profile,
    )
    result = apply_technique(
        "ort_int8_static", handle, ctx, {"exclude_top_sensitive": 1, "num_samples": 16}
    )
    top = max(profile.sensitivity, key=lambda s: s.score).layer
    assert any(top in change for change in result.changes), result.changes
    quantized = onnx.load(str(result.handle.path))
    kept = [n for n in quantized.graph.node if n.name == top]
    assert kept and kept[0].op_type == "Gemm"  # still a float Gemm
    out = result.handle.run({"x": np.ones((1, 32), np.float32)})
    assert next(iter(out.values())).shape == (1, 8)
