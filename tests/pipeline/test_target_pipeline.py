"""`branes optimize --target T`: one path from optimize to a packaged, validated artifact for T.

Real runs on a small ONNX CNN: the planner keeps only what T runs, measures there, and the
Deployment stage packages the winner with deployment.json and validation.json in --out.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tests.cli_runner import runner

from embodied_ai_architect.agents.planning.planner import PlanningInput, make_plans
from embodied_ai_architect.errors import ConstraintError
from embodied_ai_architect.modelio.handle import Framework
from embodied_ai_architect.schemas.constraints import parse_constraints
from embodied_ai_architect.schemas.results import VersionMetrics
from embodied_ai_architect.utils.deps import has_package

needs_openvino = pytest.mark.skipif(not has_package("openvino"), reason="openvino extra")


@pytest.fixture(scope="module")
def cnn(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    import torch
    from torch import nn

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("target")
    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 16, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, 10),
    ).eval()
    path = folder / "cnn.onnx"
    torch.onnx.export(
        model, (torch.randn(1, 3, 32, 32),), str(path), input_names=["x"], dynamo=False
    )
    calib = folder / "calib.npz"
    rng = np.random.default_rng(0)
    np.savez(calib, x=rng.random((48, 3, 32, 32), dtype=np.float32))
    return path, calib


def _optimize(run, model: Path, calib: Path, out: Path, target: str):  # type: ignore[no-untyped-def]
    return run(
        "optimize",
        str(model),
        "--max-size",
        "5",
        "--target",
        target,
        "--calibration-data",
        str(calib),
        "--max-attempts",
        "6",
        "--max-eval-samples",
        "64",
        "--latency-runs",
        "10",
        "--out",
        str(out),
    )


def _report(out: Path) -> dict:  # type: ignore[type-arg]
    return json.loads((out / "report.json").read_text())


@needs_openvino
def test_openvino_target_ends_in_a_validated_openvino_package(
    cnn: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model, calib = cnn
    out = tmp_path / "out"
    result = _optimize(runner(capsys, monkeypatch), model, calib, out, "openvino")
    assert result.returncode == 0, result.stderr
    report = _report(out)
    # Only what OpenVINO runs was tried: no ONNX Runtime quantizer, no runtime choice.
    tried = {a["technique"] for a in report["attempts"]}
    assert not any(t.startswith("ort_") for t in tried)
    assert "openvino_ir" in tried
    assert report["chosen_plan"]["rationale"]  # the plan explains itself
    target_steps = [s for s in report["chosen_plan"]["steps"] if s["id"] == "target"]
    assert target_steps and target_steps[0]["required"]
    # The winner runs on OpenVINO, and it is what was packaged.
    best = report["best"]
    assert best["framework"] == "openvino"
    deployment = report["deployment"]
    assert deployment["success"] and deployment["target"] == "openvino"
    artifact = deployment["artifact"]
    assert artifact["format"] == "openvino_ir" and artifact["details"]["version"] == best["id"]
    assert Path(artifact["path"]).exists() and Path(artifact["extra_files"][0]).exists()
    assert deployment["validation"]["passed"]
    assert deployment["validation"]["max_relative_diff"] < 0.01
    assert (out / "deployment" / "deployment.json").exists()
    assert (out / "deployment" / "validation.json").exists()
    record = json.loads((out / "deployment" / "deployment.json").read_text())
    assert record["version"] == best["id"] and record["target"] == "openvino"
    # The CLI shows the deployment record.
    assert "deployment — openvino" in result.stdout and "passed" in result.stdout


def test_onnxruntime_target_packages_an_ort_optimized_graph(
    cnn: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model, calib = cnn
    out = tmp_path / "out"
    result = _optimize(runner(capsys, monkeypatch), model, calib, out, "onnxruntime")
    assert result.returncode == 0, result.stderr
    report = _report(out)
    tried = {a["technique"] for a in report["attempts"]}
    assert not any(t.startswith(("openvino", "tflite", "tensorrt")) for t in tried)
    # An ONNX source is its own ONNX Runtime FP32 version: the export is not re-timed.
    assert "onnx_export" not in tried
    deployment = report["deployment"]
    assert deployment["success"], deployment
    artifact = deployment["artifact"]
    assert artifact["format"] == "onnx" and artifact["runtime"] == "onnxruntime"
    assert artifact["details"]["graph_optimization_level"] == "extended"
    assert (out / "deployment" / "deployment.json").exists()
    # No evaluation file: the package is checked on the calibration inputs, not random ones.
    validation = json.loads((out / "deployment" / "validation.json").read_text())
    assert validation["data_source"] == str(calib)
    assert validation["num_samples"] > 0 and validation["passed"]


def test_unavailable_target_is_refused_before_any_work(
    cnn: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model, calib = cnn
    out = tmp_path / "out"
    for target in ("jetson", "jetson:orin-nano"):
        result = _optimize(runner(capsys, monkeypatch), model, calib, out, target)
        assert result.returncode == 2
        assert "not available on this host" in result.stderr
        assert "tensorrt" in result.stderr and "CUDA device" in result.stderr
        assert "onnxruntime" in result.stderr  # what is available instead
        assert not out.exists()  # nothing ran, nothing written


def test_unknown_target_lists_targets_and_device_profiles() -> None:
    with pytest.raises(ConstraintError) as info:
        parse_constraints({"max_size_mb": 1, "target": "jetsn"})
    message = info.value.message
    for name in ("cpu", "onnxruntime", "openvino", "tflite", "jetson", "jetson:orin-nano"):
        assert name in message


def test_device_profile_tightens_the_size_limit() -> None:
    from embodied_ai_architect.agents.deployment.targets.profiles import PROFILES
    from embodied_ai_architect.pipeline.deployment import check_target

    profile = PROFILES["tflite:rpi5"]
    loose = parse_constraints({"max_latency_ms": 50, "target": "tflite:rpi5"})
    tightened, resolved = check_target(loose)
    assert resolved.target == "tflite" and resolved.profile == profile
    assert tightened.max_size_mb == profile.max_model_mb
    strict = parse_constraints({"max_size_mb": 3, "target": "tflite:rpi5"})
    assert check_target(strict)[0].max_size_mb == 3  # never loosened


def _planning(target: str, runtime: str | None, takes: set[Framework]) -> PlanningInput:
    baseline = VersionMetrics(
        size_bytes=4_000_000,
        parameters=1_000_000,
        runtime="onnxruntime",
        p50_ms=5.0,
        p95_ms=6.0,
        throughput_per_s=200.0,
        threads=2,
    )
    return PlanningInput(
        profile=None,
        family="cnn_classifier",
        constraints=parse_constraints({"max_size_mb": 1, "target": target}),
        baseline=baseline,
        framework="onnx",
        has_training_data=False,
        has_calibration_data=True,
        target=target,
        target_runtime=runtime,
        target_takes=frozenset(takes),
    )


@needs_openvino
def test_planner_keeps_only_techniques_whose_output_the_target_runs() -> None:
    plans, skipped = make_plans(_planning("openvino", "openvino", {Framework.ONNX}))
    planned = {c.technique for p in plans for s in p.steps for c in s.candidates}
    assert "openvino_int8" in planned
    assert not {t for t in planned if t.startswith("ort_")}
    assert any(
        note.startswith("ort_int8_static: runs on onnxruntime, not on target openvino")
        for note in skipped
    )
    # The host target keeps every CPU runtime in competition.
    plans, _ = make_plans(_planning("cpu", None, set()))
    planned = {c.technique for p in plans for s in p.steps for c in s.candidates}
    assert {"openvino_int8", "ort_int8_static"} <= planned
    assert "onnx_export" not in planned  # the model is already ONNX


@pytest.mark.tf
def test_tflite_target_on_a_keras_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    model = tf.keras.Sequential(
        [
            tf.keras.Input((32, 32, 3)),
            tf.keras.layers.Conv2D(8, 3, activation="relu"),
            tf.keras.layers.GlobalAveragePooling2D(),
            tf.keras.layers.Dense(10),
        ]
    )
    path = tmp_path / "cnn.keras"
    model.save(path)
    calib = tmp_path / "calib.npz"
    np.savez(calib, x=np.random.default_rng(0).random((32, 32, 32, 3), dtype=np.float32))
    out = tmp_path / "out"
    result = _optimize(runner(capsys, monkeypatch), path, calib, out, "tflite")
    assert result.returncode == 0, result.stderr
    report = _report(out)
    assert {a["technique"] for a in report["attempts"]} <= {"tflite_convert", "tflite_int8"}
    assert report["best"]["framework"] == "tflite"
    deployment = report["deployment"]
    assert deployment["success"], deployment
    assert deployment["artifact"]["format"] == "tflite"
    assert (out / "deployment" / "deployment.json").exists()
