"""What a job asks Ray for: CPUs, memory, a GPU only for CUDA targets, and retries only for
jobs that commit nothing before they succeed. (No Ray needed: the options are plain data.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from embodied_ai_architect.schemas.jobs import JobKind
from embodied_ai_architect.settings import Settings
from embodied_ai_architect.workers.protocol import JobSpec
from embodied_ai_architect.workers.ray_executor import describe_ray_failure, task_options


def _spec(kind: JobKind, request: dict[str, object], workspace: Path) -> JobSpec:
    return JobSpec(
        job_id="ab" * 16,
        kind=kind,
        request=request,
        settings=Settings(workspace=workspace),
        handler="x:y",
    )


@pytest.mark.parametrize(
    ("kind", "request_body", "gpus", "retries"),
    [
        (JobKind.ANALYZE, {"example": "mlp_policy"}, 0, 2),
        (JobKind.OPTIMIZE, {"model_path": "m.onnx"}, 0, 0),  # commits versions: never rerun
        (JobKind.DEPLOY, {"target": "onnxruntime"}, 0, 2),
        (JobKind.DEPLOY, {"target": "jetson"}, 1, 2),  # builds TensorRT engines with CUDA
        (JobKind.DEPLOY, {"target": "no_such_target"}, 0, 2),  # fails inside, with its reason
    ],
)
def test_task_options(
    isolated_workspace: Path,
    kind: JobKind,
    request_body: dict[str, object],
    gpus: int,
    retries: int,
) -> None:
    options = task_options(
        _spec(kind, request_body, isolated_workspace),
        cpus=4,
        memory_bytes=2 * 1024**3,
        max_retries=2,
    )
    assert options["num_cpus"] == 4 and options["memory"] == 2 * 1024**3
    assert options["num_gpus"] == gpus and options["max_retries"] == retries
    assert options["name"] == f"eaa-{kind.value}-abababab"
    without_memory = task_options(
        _spec(kind, request_body, isolated_workspace), cpus=1, memory_bytes=None, max_retries=0
    )
    assert "memory" not in without_memory and without_memory["max_retries"] == 0


def test_failure_reasons_name_the_lost_worker() -> None:
    class WorkerCrashedError(Exception):
        pass

    class RayTaskError(Exception):
        pass

    lost = describe_ray_failure(WorkerCrashedError("The worker died unexpectedly\nmore"), retries=0)
    assert lost.startswith("the Ray worker running this job was lost (WorkerCrashedError")
    assert "not retried" in lost and "more" not in lost
    assert "after 1 retry" in describe_ray_failure(WorkerCrashedError("x"), retries=1)
    assert describe_ray_failure(RayTaskError("boom"), retries=0) == (
        "the Ray task failed: RayTaskError: boom"
    )
