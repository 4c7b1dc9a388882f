"""Bad jobs never queue: everything knowable at submit is refused with 422 naming the field,
and a bounded fuzz of submits finds no accepted job that fails for such a reason."""

from __future__ import annotations

import os
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .live import LiveServer, tiny_onnx_bytes, upload, wait_job

# Error codes of failures that depend only on the request, the model file and the host.
KNOWABLE_AT_SUBMIT = {
    "invalid_input",
    "invalid_config",
    "invalid_constraints",
    "model_format",
    "target_unavailable",
    "missing_dependency",
    "validation_error",
}


@pytest.fixture(scope="module")
def model_id(server: LiveServer) -> int:
    with server.client() as client:
        return int(upload(client, tiny_onnx_bytes(seed=33), name="admission.onnx")["id"])


def _job_count(client: httpx.Client) -> int:
    return int(client.get("/api/v1/jobs", params={"limit": 1}).json()["count"])


REFUSED: dict[str, tuple[dict[str, Any], str]] = {
    "unknown target": ({"kind": "deploy", "target": "nope"}, "target"),
    "target not on this host": ({"kind": "deploy", "target": "jetson"}, "target"),
    "static int8 without calibration": (
        {"kind": "deploy", "precision": "int8", "int8_mode": "static"},
        "calibration_data_id",
    ),
    "unknown evaluation data": (
        {"kind": "optimize", "constraints": {"max_size_mb": 10}, "eval_data_id": 999_999},
        "eval_data_id",
    ),
    "unknown calibration data": (
        {"kind": "deploy", "precision": "int8", "calibration_data_id": 999_999},
        "calibration_data_id",
    ),
    "optimize: target not on this host": (
        {"kind": "optimize", "constraints": {"max_size_mb": 10, "target": "jetson:orin-nano"}},
        "constraints.target",
    ),
    "rollout: unknown suite": ({"kind": "rollout", "suite": "nope-v0/smoke"}, "suite"),
    "rollout: no such scene": ({"kind": "rollout", "scene": 10_000}, "scene"),
    "unknown suite": (
        {"kind": "optimize", "constraints": {"max_size_mb": 10}, "eval_sim": "nope-v0/smoke"},
        "eval_sim",
    ),
    "wrong rank": ({"kind": "deploy", "input_shapes": [[1, 16, 1]]}, "input_shapes"),
    "wrong input count": ({"kind": "deploy", "input_shapes": [[1, 16], [1, 16]]}, "input_shapes"),
    "fixed dimension changed": ({"kind": "analyze", "input_shapes": [[1, 17]]}, "input_shapes"),
    "inputs too big": (
        {"kind": "analyze", "input_shapes": [[1_000_000, 1_000_000, 1_000_000]], "model_id": None},
        "input_shapes",
    ),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_knowable_failures_are_refused_at_submit(
    case: str, server: LiveServer, model_id: int
) -> None:
    body, field = REFUSED[case]
    request = {"model_id": model_id, **body}
    if request.get("model_id") is None:
        request.pop("model_id")
        request["example"] = "cnn"
    with server.client() as client:
        before = _job_count(client)
        response = client.post("/api/v1/jobs", json=request)
        assert response.status_code == 422, response.text
        error = response.json()
        assert error["details"]["field"] == field and error["message"].startswith(field)
        assert error["hint"]
        assert _job_count(client) == before  # nothing was queued


@pytest.mark.parametrize(
    "body",
    [
        {
            "kind": "optimize",
            "constraints": {"max_size_mb": 10},
            "eval_sim": "../../../../etc/passwd",
        },
        {"kind": "optimize", "constraints": {"max_size_mb": 10}, "eval_sim": "reach-v0/../../x"},
        {"kind": "deploy", "validate_outputs": 0},
        {"kind": "optimize", "constraints": {"max_size_mb": 10, "target": "nope"}},
        {"kind": "analyze", "measure_latency": 1},
        {"target": "onnxruntime"},  # no kind
    ],
)
def test_schema_level_refusals(body: dict[str, Any], server: LiveServer, model_id: int) -> None:
    with server.client() as client:
        response = client.post("/api/v1/jobs", json={"model_id": model_id, **body})
        assert response.status_code == 422, response.text
        assert response.json()["code"] == "validation_error"


def test_openapi_marks_kind_required(server: LiveServer) -> None:
    with server.client() as client:
        schemas = client.get("/openapi.json").json()["components"]["schemas"]
    for name in (
        "AnalyzeJobRequest",
        "OptimizeJobRequest",
        "DeployJobRequest",
        "RolloutJobRequest",
    ):
        assert "kind" in schemas[name]["required"], name


_DIMS = st.sampled_from([1, 2, 16, 17])
# Mostly shapes the model accepts (so jobs get queued and run), sometimes anything.
_SHAPES = st.sampled_from([None, [[1, 16]], [[2, 16]]]) | st.lists(
    st.lists(_DIMS, min_size=1, max_size=3), min_size=1, max_size=2
)
_DEPLOY = st.fixed_dictionaries(
    {
        "kind": st.just("deploy"),
        "target": st.sampled_from(["onnxruntime", "onnxruntime", "openvino", "tflite", "nope"]),
        "precision": st.sampled_from(["fp32", "fp16", "int8"]),
        "int8_mode": st.sampled_from(["static", "dynamic"]),
        "input_shapes": _SHAPES,
        "validate_outputs": st.booleans(),
    }
)
_ANALYZE = st.fixed_dictionaries(
    {
        "kind": st.just("analyze"),
        "input_shapes": _SHAPES,
        "measure_latency": st.just(False),
        "sensitivity_top_k": st.just(0),
    }
)


@settings(
    # Bounded for the default run; EAA_FUZZ_SUBMITS=200 (and a random seed) for a deeper hunt.
    max_examples=int(os.environ.get("EAA_FUZZ_SUBMITS", "12")),
    deadline=None,
    derandomize="EAA_FUZZ_SUBMITS" not in os.environ,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(body=_DEPLOY | _ANALYZE)
def test_fuzzed_submits_never_accept_a_job_that_fails_for_a_knowable_reason(
    server: LiveServer, model_id: int, body: dict[str, Any]
) -> None:
    request = {key: value for key, value in body.items() if value is not None}
    with server.client() as client:
        response = client.post("/api/v1/jobs", json={"model_id": model_id, **request})
        assert response.status_code in (202, 422), response.text
        if response.status_code == 422:
            return
        job = wait_job(
            client, response.json()["job_id"], {"succeeded", "failed", "cancelled"}, timeout=180
        )
    error = job.get("error") or {}
    print("accepted", request, "->", job["status"], error.get("code"), error.get("message"))
    assert error.get("code") not in KNOWABLE_AT_SUBMIT, (request, error)
