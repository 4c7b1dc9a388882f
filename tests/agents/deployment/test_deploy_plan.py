"""`branes deploy run` is a one-step plan through the optimize pipeline (real ORT / OpenVINO).

The same Deployment stage ends both commands, so the same target and precision give the same
deployment record and validation; the deploy is a recorded run whose plan has the one step.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from embodied_ai_architect.agents.base import AgentContext
from embodied_ai_architect.agents.deployment.agent import deploy_model
from embodied_ai_architect.application.runs import get_run
from embodied_ai_architect.pipeline import run_optimize
from embodied_ai_architect.schemas.deployment import DeployRequest, ValidationConfig
from embodied_ai_architect.schemas.jobs import JobKind
from embodied_ai_architect.schemas.progress import ProgressEvent
from embodied_ai_architect.schemas.results import OptimizeRequest
from embodied_ai_architect.settings import get_settings
from embodied_ai_architect.store import Database
from embodied_ai_architect.utils.deps import has_package

# Both commands validate on 16 seeded random inputs with a 1 % tolerance here.
VALIDATION = ValidationConfig(
    allow_random_inputs=True, num_samples=16, latency_runs=10, tolerance_percent=1.0
)


@pytest.fixture(scope="module")
def small_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 4),
    ).eval()
    path = tmp_path_factory.mktemp("plan") / "small.onnx"
    torch.onnx.export(model, (torch.randn(1, 3, 16, 16),), str(path), dynamo=False)
    return path


def deploy(request: DeployRequest, events: list[ProgressEvent] | None = None) -> dict:  # type: ignore[type-arg]
    sink = events.append if events is not None else (lambda event: None)
    result = deploy_model(request, AgentContext.from_settings(get_settings(), sink))
    assert result.report_path is not None
    record: dict = json.loads(result.report_path.read_text())  # type: ignore[type-arg]
    return record


@pytest.mark.parametrize(
    ("target", "attempts"),
    [
        # One attempt: which conversion the plan tries first, and whether it is kept, depends
        # on the host (an INT8 one is slower than FP32 here, faster on some VNNI hosts).
        ("onnxruntime", 1),
        # The required FP32 step onto OpenVINO (openvino_ir), then one INT8 attempt.
        pytest.param(
            "openvino",
            2,
            marks=pytest.mark.skipif(not has_package("openvino"), reason="openvino extra"),
        ),
    ],
)
def test_deploy_run_and_optimize_target_write_the_same_record(
    small_onnx: Path, tmp_path: Path, target: str, attempts: int
) -> None:
    report = run_optimize(
        OptimizeRequest(
            model_path=small_onnx,
            constraints={"target": target, "budget": {"max_attempts": attempts}},
            latency_runs=10,
            max_eval_samples=16,
            model_memory=False,
            out_dir=tmp_path / "o",
        ),
        settings=get_settings(),
    )
    optimized = json.loads((tmp_path / "o" / "deployment" / "deployment.json").read_text())
    assert report.deployment is not None and report.deployment.success
    # deploy run at the precision (and INT8 mode) the optimize run ended at.
    precision = optimized["precision"]
    conversion = optimized["artifact"]["details"].get("conversion", "")
    exact = precision == "fp32"
    # optimize calibrates static INT8 on seeded random inputs; deploy run wants data named.
    static = precision == "int8" and not conversion.endswith("int8_dynamic")
    calibration = tmp_path / "calib.npy"
    np.save(calibration, np.random.default_rng(0).standard_normal((16, 3, 16, 16)).astype("f4"))
    deployed = deploy(
        DeployRequest(
            model_path=small_onnx,
            target=target,
            precision=precision,
            int8_mode="dynamic" if conversion.endswith("int8_dynamic") else "static",
            calibration={"data_path": calibration, "num_samples": 16} if static else None,
            # deploy run checks against the FP32 original, where reduced precision is the point.
            validation=VALIDATION.model_copy(update={"tolerance_percent": 1.0 if exact else 20.0}),
            out_dir=tmp_path / "d",
        )
    )
    assert set(deployed) == set(optimized)
    for record in (deployed, optimized):
        assert record["success"] and record["target"] == target
    a, b = deployed["artifact"], optimized["artifact"]
    for key in ("format", "runtime", "precision", "input_shapes", "output_shapes"):
        assert a[key] == b[key], key
    # The same conversion (none for ONNX Runtime FP32, openvino_ir for OpenVINO) with the same
    # settings and the target's own packaging facts; optimize may add the graph step's.
    # (deploy run also records how many calibration samples its data held).
    own = {"version", "num_samples", "calibration_samples"}
    assert {k: v for k, v in a["details"].items() if k not in own}.items() <= b["details"].items()
    if target == "openvino" and exact:
        assert a["details"]["conversion"] == b["details"]["conversion"] == "openvino_ir"
    va, vb = deployed["validation"], optimized["validation"]
    assert va.keys() == vb.keys()
    for key in ("passed", "num_samples", "data_source"):
        assert va[key] == vb[key], key
    # optimize compares with the measured version: rounding only (OpenVINO's own CPU
    # precision hint, reduced on hosts with bf16/AMX); deploy run with the FP32 original.
    assert vb["max_relative_diff"] < 1e-2
    assert va["max_relative_diff"] < (1e-2 if exact else 0.2)
    for record, folder in ((deployed, tmp_path / "d"), (optimized, tmp_path / "o" / "deployment")):
        assert Path(record["artifact"]["path"]).parent == folder
        assert json.loads((folder / "validation.json").read_text())["passed"]


def test_deploy_run_is_a_recorded_run_of_one_step(small_onnx: Path, tmp_path: Path) -> None:
    events: list[ProgressEvent] = []
    record = deploy(
        DeployRequest(
            model_path=small_onnx,
            precision="int8",
            int8_mode="dynamic",
            validation=VALIDATION.model_copy(update={"tolerance_percent": 20.0}),
            out_dir=tmp_path,
        ),
        events,
    )
    assert record["artifact"]["details"]["conversion"] == "ort_int8_dynamic"
    assert record["version"] == "v1"
    run = get_run(Database.from_settings(get_settings()), record["run_id"])
    assert run.kind is JobKind.DEPLOY and run.status.value == "succeeded"
    # The plan has one step whose only candidate is the registered conversion; one attempt made
    # v1 from v0, and v1 is what was packaged (no choice among versions).
    [plan] = run.plans
    [step] = plan.steps
    assert step.technique == "ort_int8_dynamic" and step.status == "passed"
    [attempt] = run.attempts
    assert attempt.technique == "ort_int8_dynamic" and attempt.passed
    assert [v.version for v in run.versions] == [0, 1] and run.chosen == "v1"
    assert run.deployment is not None and run.deployment["artifact"]["details"]["version"] == "v1"
    # The events tell the same story, in order, with no search.
    messages = [e.message for e in events]
    assert sum("trying" in m for m in messages) == 1
    assert not any(e.stage == "planning" and "re-plan" in e.message for e in events)
    assert any(m.startswith("plan deploy to onnxruntime at int8") for m in messages)


def test_fp32_on_a_target_that_runs_the_model_is_its_own_package(
    small_onnx: Path, tmp_path: Path
) -> None:
    """No conversion technique exists for ONNX → ONNX Runtime at FP32: the plan has no step
    and the target's own package() (graph optimizations) is the deployment."""
    record = deploy(DeployRequest(model_path=small_onnx, out_dir=tmp_path))
    assert record["version"] == "v0" and record["validation"] is None
    assert "conversion" not in record["artifact"]["details"]
    assert record["artifact"]["details"]["graph_optimization_level"] == "extended"
    run = get_run(Database.from_settings(get_settings()), record["run_id"])
    assert [p.steps for p in run.plans] == [[]] and run.attempts == []


def test_a_recorded_step_error_is_raised_as_the_class_it_was() -> None:
    """A conversion that fails inside the step is recorded by the run as {code, message, hint};
    deploy run raises it again as that error (exit 2 or 1 as before), never packaging v0."""
    from embodied_ai_architect.agents.deployment.agent import _as_error
    from embodied_ai_architect.errors import DeploymentError, ExportError, InputError

    error = _as_error(
        {"code": "export_failed", "message": "op X", "hint": "upgrade", "field": "input_shapes"}
    )
    assert type(error) is ExportError and error.hint == "upgrade"
    assert error.field == "input_shapes"
    assert type(_as_error({"code": "invalid_input", "message": "m", "hint": "h"})) is InputError
    unknown = _as_error({"code": "internal", "message": "KeyError: 'w'", "hint": ""})
    assert type(unknown) is DeploymentError and unknown.message == "KeyError: 'w'"


def test_a_service_deploy_job_records_the_run_under_its_own_job(
    small_onnx: Path, tmp_path: Path
) -> None:
    """REST: the worker's deploy handler runs the same plan, recorded under the queued job."""
    from embodied_ai_architect.store.repo import jobs
    from embodied_ai_architect.workers.handlers import run_deploy

    settings = get_settings()
    request = DeployRequest(
        model_path=small_onnx, precision="fp16", validation=VALIDATION, out_dir=tmp_path
    ).model_dump(mode="json")
    db = Database.from_settings(settings)
    db.upgrade()
    with db.session() as session:
        job_id = jobs.create_job(session, kind=JobKind.DEPLOY, request=request).id
    events: list[ProgressEvent] = []
    result = run_deploy(request, job_id=job_id, settings=settings, sink=events.append)
    assert result["success"] and result["artifact"]["details"]["conversion"] == "ort_fp16"
    assert json.loads((tmp_path / "deployment.json").read_text())["run_id"] == job_id
    run = get_run(db, job_id)
    assert [a.technique for a in run.attempts] == ["ort_fp16"]
    assert [v.version for v in run.versions] == [0, 1]
    # The service stores the events itself: the handler's sink got them all, in order.
    assert [e.percent for e in events] == sorted(e.percent for e in events)
    db.dispose()
