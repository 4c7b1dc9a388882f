"""--fidelity and --metric through the Python API, the REST submit and the LLM tool schema;
held-out figures on samples neither calibration nor selection used."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from embodied_ai_architect.errors import ConfigError, ConstraintError
from embodied_ai_architect.pipeline import run_optimize
from embodied_ai_architect.schemas.constraints import Budget, Constraints, FidelityBound
from embodied_ai_architect.schemas.results import OptimizeRequest
from embodied_ai_architect.settings import Settings

METRIC = "embodied_ai_architect.testing.metrics:label_agreement"


def _labelled_data(model: Path, options, path: Path, count: int = 96) -> Path:  # type: ignore[no-untyped-def]
    from embodied_ai_architect.modelio.loader import load_model

    handle = load_model(model, options)
    x = np.random.default_rng(1).random((count, 1, 8, 8), dtype=np.float32)
    name = handle.inputs[0].name
    y = np.concatenate(
        [next(iter(handle.run({name: x[i : i + 1]}).values())).argmax(1) for i in range(count)]
    )
    np.savez(path, x=x, y=y)
    return path


def test_fidelity_bound_parses_and_validates() -> None:
    c = Constraints(fidelity="cosine:0.995")  # type: ignore[arg-type]
    assert c.fidelity == FidelityBound(metric="cosine", minimum=0.995)
    assert c.has_accuracy_bound() and c.accuracy_floor(1.0) == pytest.approx(0.995)
    assert "fidelity cosine ≥ 0.995" in c.describe()
    from embodied_ai_architect.schemas.constraints import parse_constraints

    for bad, fragment in [
        ("bleu:0.9", "unknown fidelity metric 'bleu'"),
        ("top1", "metric:value"),
        ("top1:99", "write 99 % as 0.99"),
    ]:
        with pytest.raises(ConstraintError, match=fragment):
            parse_constraints({"fidelity": bad})
    with pytest.raises(ConstraintError, match="measure different things"):
        parse_constraints({"fidelity": "top1:0.9", "min_accuracy": 0.9})


def test_metric_is_validated_when_the_request_is_built(tmp_path: Path) -> None:
    base = {"model_path": tmp_path / "m.onnx", "constraints": {"max_accuracy_drop": 1}}
    assert OptimizeRequest(**base, metric=METRIC).metric == METRIC  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"cannot import 'no_such_pkg\.metrics'"):
        OptimizeRequest(**base, metric="no_such_pkg.metrics:top1")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="has no function 'nope'"):
        OptimizeRequest(**base, metric="embodied_ai_architect.testing.metrics:nope")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="not the standard library"):
        OptimizeRequest(**base, metric="os:system")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="not 'module:function'"):
        OptimizeRequest(**base, metric="../evil.py")  # type: ignore[arg-type]


def test_api_metric_and_fidelity_run_with_held_out_figures(tiny_cnn, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    model, options = tiny_cnn
    data = _labelled_data(model, options, tmp_path / "eval.npz")
    settings = Settings(workspace=tmp_path / "ws", num_threads=1)
    report = run_optimize(
        OptimizeRequest(
            model_path=model,
            load_options=options,
            constraints=Constraints(max_accuracy_drop=5, budget=Budget(max_attempts=2)),
            eval_data=data,
            metric=METRIC,
            out_dir=tmp_path / "metric",
            latency_runs=5,
        ),
        settings=settings,
    )
    base = report.baseline.metrics
    assert (
        base.accuracy_evaluator == f"metric:{METRIC}" and base.accuracy_metric == "label_agreement"
    )
    assert base.accuracy == pytest.approx(1.0)  # the labels are the original's own predictions
    held = report.held_out
    assert held is not None and held.metric == "label_agreement"
    assert held.split == {"calibration": 24, "selection": 36, "held_out": 36}
    assert held.samples == 36 and held.baseline == pytest.approx(1.0)
    assert "held-out label_agreement" in report.summary and report.decision.startswith("Optimised")
    # The model's own memory, measured in a fresh process: a 40 kB CNN costs a few MB of runtime
    # buffers at most, not the hundreds of MB this test process holds.
    assert report.memory is not None and report.memory.error is None
    assert report.memory.baseline_mb is not None and 0 <= report.memory.baseline_mb < 100
    assert report.memory.best_mb is not None and report.memory.best_mb < 100

    fidelity = run_optimize(
        OptimizeRequest(
            model_path=model,
            load_options=options,
            constraints=Constraints(fidelity="top1:0.9", budget=Budget(max_attempts=2)),  # type: ignore[arg-type]
            eval_data=data,  # labelled, but the explicit fidelity bound decides the evaluator
            out_dir=tmp_path / "fidelity",
            latency_runs=5,
            model_memory=False,
        ),
        settings=settings,
    )
    assert fidelity.baseline.metrics.accuracy_metric == "fidelity_top1"
    assert fidelity.held_out is not None and fidelity.held_out.metric == "fidelity_top1"
    for verdict in fidelity.best_verdicts:
        if verdict.constraint == "accuracy":
            assert verdict.limit == pytest.approx(0.9)


def test_rest_submit_validates_the_metric(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient
    from onnx import TensorProto, helper, numpy_helper

    from embodied_ai_architect.api.app import create_app

    weight = numpy_helper.from_array(np.ones((4, 2), dtype=np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    settings = Settings(workspace=tmp_path / "ws", api_token="t" * 32)
    app = create_app(settings, start_workers=False)
    headers = {"Authorization": f"Bearer {'t' * 32}"}
    with TestClient(app) as client:
        uploaded = client.post(
            "/api/v1/models",
            params={"filename": "m.onnx"},
            content=model.SerializeToString(),
            headers={**headers, "Content-Type": "application/octet-stream"},
        )
        assert uploaded.status_code == 201, uploaded.text
        body = {
            "kind": "optimize",
            "model_id": uploaded.json()["id"],
            "constraints": {"fidelity": "cosine:0.99", "objective": "size"},
        }
        bad = client.post(
            "/api/v1/jobs", json={**body, "metric": "no_such_pkg.m:f"}, headers=headers
        )
        assert bad.status_code == 422, bad.text
        assert "no_such_pkg" in bad.json()["message"] and bad.json()["hint"]
        path = client.post("/api/v1/jobs", json={**body, "metric": "/tmp/x.py:f"}, headers=headers)
        assert path.status_code == 422
        good = client.post("/api/v1/jobs", json={**body, "metric": METRIC}, headers=headers)
        assert good.status_code in (200, 201, 202), good.text


def test_llm_tool_schema_offers_metric_fidelity_and_objective() -> None:
    from embodied_ai_architect.llm.tools import get_tool

    schema = get_tool("optimize_model").input_schema()
    text = str(schema)
    assert "metric" in schema["properties"]
    assert "fidelity" in text and "objective" in text
