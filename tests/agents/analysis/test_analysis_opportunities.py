"""Opportunities carry the measured numbers behind them and name registered techniques."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from embodied_ai_architect.agents.analysis import AnalysisRequest, analyze_model
from embodied_ai_architect.agents.base import AgentContext
from embodied_ai_architect.agents.optimization.base import load_techniques
from embodied_ai_architect.modelio.torch_io import handle_from_module
from embodied_ai_architect.schemas.profile import Capability
from embodied_ai_architect.settings import get_settings

TECHNIQUES = set(load_techniques().names())


def _analyze(module: nn.Module, shape: list[int]):  # type: ignore[no-untyped-def]
    request = AnalysisRequest(
        handle=handle_from_module(module, input_shapes=[shape]),
        measure_latency=False,
        sensitivity_top_k=0,
    )
    return analyze_model(request, AgentContext(settings=get_settings()))


def test_a_rank_4_weight_is_found_and_linear_share_is_quoted() -> None:
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(64, 64, bias=False), nn.ReLU(), nn.Linear(64, 4))
    with torch.no_grad():
        module[0].weight.copy_(torch.randn(64, 4) @ torch.randn(4, 64))  # exactly rank 4
    profile = _analyze(module, [1, 64])

    assert {item.technique for item in profile.opportunities} <= TECHNIQUES
    lowrank = next(item for item in profile.opportunities if item.technique == "lowrank_svd")
    rank = int(lowrank.rationale.split("rank ")[1].split(" ")[0])
    assert 1 <= rank <= 4 and "of 64" in lowrank.rationale
    int8 = next(item for item in profile.opportunities if item.technique == "ort_int8_dynamic")
    assert int8.rationale.startswith("100% of weights are in 2 Linear")


def test_the_rank_eigensolve_runs_on_one_blas_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    # A threaded OpenBLAS eigensolve beside the runtimes' spinning pools can stall for minutes.
    from threadpoolctl import threadpool_info

    seen: list[list[int]] = []
    eigvalsh = np.linalg.eigvalsh

    def recording(matrix: np.ndarray) -> np.ndarray:
        seen.append([p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"])
        return eigvalsh(matrix)

    monkeypatch.setattr(np.linalg, "eigvalsh", recording)
    torch.manual_seed(0)
    profile = _analyze(nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 4)), [1, 64])
    assert any(item.technique == "lowrank_svd" for item in profile.opportunities)
    assert seen and all(counts and set(counts) == {1} for counts in seen), seen


def test_sparse_weights_raise_magnitude_pruning() -> None:
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 4))
    with torch.no_grad():
        module[0].weight[:, :48] = 0  # 75 % of the largest tensor is zero
    profile = _analyze(module, [1, 64])
    prune = next(item for item in profile.opportunities if item.technique == "prune_magnitude")
    dense = _analyze(nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 4)), [1, 64])
    dense_prune = next(i for i in dense.opportunities if i.technique == "prune_magnitude")
    assert prune.score > dense_prune.score + 2
    assert "are already ≈0" in prune.rationale


def _int8_scores(capabilities: list[Capability]) -> dict[str, float]:
    from embodied_ai_architect.agents.analysis.opportunities import (
        OpportunityInputs,
        find_opportunities,
    )
    from embodied_ai_architect.agents.analysis.torch_stats import analyze_torch
    from embodied_ai_architect.schemas.profile import ArchitectureFamily, FamilyDetection

    torch.manual_seed(0)
    module = nn.Sequential(nn.Conv2d(3, 16, 3), nn.ReLU(), nn.Conv2d(16, 16, 3), nn.ReLU())
    handle = handle_from_module(module, input_shapes=[[1, 3, 32, 32]])
    structure = analyze_torch(handle, handle.example_inputs())
    found = find_opportunities(
        OpportunityInputs(
            structure=structure,
            family=FamilyDetection(
                family=ArchitectureFamily.CNN_CLASSIFIER, confidence=1.0, evidence=[]
            ),
            capabilities=capabilities,
        )
    )
    return {o.technique: o.score for o in found if o.technique.endswith("int8_static")} | {
        o.technique: o.score for o in found if o.technique == "openvino_int8"
    }


def _capability(runtime: str, available: bool, fast: bool) -> Capability:
    return Capability(runtime=runtime, precision="int8", available=available, fast=fast, reason="")


def test_openvino_int8_ranks_before_ort_static_on_a_conv_net_where_both_are_fast() -> None:
    both = _int8_scores(
        [_capability("onnxruntime", True, True), _capability("openvino", True, True)]
    )
    assert both["openvino_int8"] > both["ort_int8_static"]
    # Without OpenVINO, VNNI still puts ORT static INT8 at the top of the conv rules.
    alone = _int8_scores([_capability("onnxruntime", True, True)])
    slow = _int8_scores([_capability("onnxruntime", True, False)])
    assert "openvino_int8" not in alone
    assert alone["ort_int8_static"] == pytest.approx(slow["ort_int8_static"] + 1)
