"""End to end: analyze_model on files of every kind the intake reads, and the request contract."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import onnx
import pytest
import torch
from pydantic import ValidationError

from embodied_ai_architect.agents.analysis import AnalysisRequest, analyze_model
from embodied_ai_architect.agents.base import AgentContext
from embodied_ai_architect.errors import InputError, ModelFormatError
from embodied_ai_architect.modelio.export import export_onnx
from embodied_ai_architect.modelio.torch_io import handle_from_module
from embodied_ai_architect.schemas.loading import LoadOptions
from embodied_ai_architect.schemas.profile import ArchitectureFamily, ModelProfile
from embodied_ai_architect.schemas.progress import ProgressEvent
from embodied_ai_architect.settings import get_settings
from embodied_ai_architect.testing.models import (
    MLPPolicy,
    SmallCNN,
    build_detector,
    count_parameters,
)


def _ctx(events: list[ProgressEvent] | None = None) -> AgentContext:
    sink = events.append if events is not None else (lambda event: None)
    return AgentContext(settings=get_settings(), sink=sink)


def test_cnn_profile_with_latency_and_progress() -> None:
    events: list[ProgressEvent] = []
    request = AnalysisRequest(example="cnn", runs=5, warmup=1, threads=1, sensitivity_top_k=3)
    profile = analyze_model(request, _ctx(events))

    assert profile.parameters == count_parameters(SmallCNN())
    # 1×8×8 input, width 16: conv1 8·8·16·9, conv2 8·8·32·16·9, conv3 (after pool) 4·4·64·32·9,
    # then Linear 64→64 and 64→10.
    expected = 64 * 16 * 9 + 64 * 32 * 16 * 9 + 16 * 64 * 32 * 9 + 64 * 64 + 64 * 10
    assert profile.macs == expected
    assert profile.family.family is ArchitectureFamily.CNN_CLASSIFIER
    runtimes = {stats.runtime: stats for stats in profile.latency}
    assert set(runtimes) == {"onnxruntime", "torch"}
    assert all(
        s.threads == 1 and s.runs == 5 and s.p95_ms >= s.p50_ms > 0 for s in runtimes.values()
    )
    assert profile.peak_memory_mb and profile.peak_memory_mb > 0
    assert len(profile.sensitivity) == 3
    assert [s.score for s in profile.sensitivity] == sorted(
        (s.score for s in profile.sensitivity), reverse=True
    )
    techniques = [o.technique for o in profile.opportunities]
    fold = next(o for o in profile.opportunities if o.technique == "fold_batchnorm")
    assert "3 Conv" in fold.rationale
    assert "onnx_graph_optimize" in techniques and "ort_int8_static" in techniques
    assert [o.score for o in profile.opportunities] == sorted(
        (o.score for o in profile.opportunities), reverse=True
    )
    percents = [event.percent for event in events]
    assert percents[0] == 0 and percents[-1] == 100 and percents == sorted(percents)
    # Milestones at least every 25 %: no silent stretch for the progress bar.
    assert max(b - a for a, b in itertools.pairwise(percents)) <= 25
    assert len(events) >= 8
    assert profile.host.runtimes["torch"]
    assert ModelProfile.model_validate_json(profile.model_dump_json()) == profile


def test_onnx_file(tmp_path: Path) -> None:
    handle = handle_from_module(build_detector())
    path = export_onnx(handle, tmp_path / "detector.onnx").onnx_path
    profile = analyze_model(
        AnalysisRequest(model_path=path, measure_latency=True, runs=3, warmup=0, threads=1),
        _ctx(),
    )
    assert profile.framework == "onnx" and profile.source_format == "onnx"
    # The exporter folds each BatchNorm into its conv (whose bias absorbs the shift), so the
    # graph's weights are exactly the convs' weights and biases: its initializers.
    conv_params = sum(
        p.numel()
        for m in handle.module.modules()
        if isinstance(m, torch.nn.Conv2d)
        for p in m.parameters()
    )
    initializers = onnx.load(str(path)).graph.initializer
    assert profile.parameters == conv_params == sum(math.prod(i.dims) for i in initializers)
    assert profile.family.family is ArchitectureFamily.DETECTOR
    assert [s.runtime for s in profile.latency] == ["onnxruntime"]
    assert (
        profile.file_bytes == path.stat().st_size and profile.sha256 and len(profile.sha256) == 64
    )
    assert profile.sensitivity and profile.sensitivity[0].op_type == "Conv"


def test_torchscript_file(tmp_path: Path) -> None:
    module = MLPPolicy().eval()
    path = tmp_path / "policy.pt"
    torch.jit.script(module).save(str(path))
    events: list[ProgressEvent] = []
    profile = analyze_model(
        AnalysisRequest(
            model_path=path, load=LoadOptions(input_shapes=[[1, 16]]), measure_latency=False
        ),
        _ctx(events),
    )
    assert profile.source_format == "torchscript"
    assert profile.parameters == count_parameters(module)
    assert profile.macs == 16 * 256 + 256 * 256 * 2 + 256 * 4
    assert profile.family.family is ArchitectureFamily.MLP_POLICY
    assert profile.outputs[0].shape == [1, 4]
    percents = [event.percent for event in events]
    assert max(b - a for a, b in itertools.pairwise(percents)) <= 25
    # Weight swaps reach the scripted graph: every scored layer changed the outputs.
    assert len(profile.sensitivity) == 4 and all(s.score > 0 for s in profile.sensitivity)


def test_tiny_vla_checkpoint_directory(tmp_path: Path) -> None:
    from embodied_ai_architect.models.vla import build_tiny_vla, save_tiny_vla_checkpoint

    directory = save_tiny_vla_checkpoint(tmp_path / "vla", seed=0)
    profile = analyze_model(
        AnalysisRequest(model_path=directory, measure_latency=False, sensitivity_top_k=2), _ctx()
    )
    assert profile.source_format == "hf_directory"
    assert profile.parameters == count_parameters(build_tiny_vla(seed=0))
    assert profile.family.family is ArchitectureFamily.VLA
    assert set(profile.family.components) == {
        "vision_tower",
        "projector",
        "language_model",
        "action_head",
    }
    assert {spec.name for spec in profile.inputs} == {"pixel_values", "input_ids"}
    assert profile.macs and profile.macs > 0


def test_request_needs_exactly_one_source(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="exactly one model source"):
        AnalysisRequest()
    with pytest.raises(InputError, match="got model_path, example"):
        AnalysisRequest(model_path=tmp_path, example="cnn")
    with pytest.raises(InputError, match="unknown example 'resnet'"):
        AnalysisRequest(example="resnet")
    with pytest.raises(InputError, match="must be a ModelHandle"):
        AnalysisRequest(handle=object())
    with pytest.raises(ValidationError):
        AnalysisRequest(example="cnn", threads=0)


def test_missing_file_fails_fast_with_a_hint(tmp_path: Path) -> None:
    with pytest.raises(ModelFormatError) as info:
        analyze_model(AnalysisRequest(model_path=tmp_path / "nope.onnx"), _ctx())
    assert "does not exist" in info.value.message and info.value.hint


def test_in_memory_handle() -> None:
    handle = handle_from_module(MLPPolicy(obs_dim=8, act_dim=2, hidden=32, depth=1), name="p")
    profile = analyze_model(
        AnalysisRequest(handle=handle, measure_latency=False, sensitivity_top_k=0), _ctx()
    )
    assert profile.model_name == "p"
    assert profile.parameters == 8 * 32 + 32 + 32 * 2 + 2
    assert profile.sensitivity == []
    assert "handle" not in AnalysisRequest(handle=handle).model_dump()
