"""LLM tools: schemas come from the request models; executors return results or structured errors."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from embodied_ai_architect.llm.tools import (
    TOOLS,
    ToolSpec,
    create_tool_executors,
    is_error,
    make_executor,
    tool_definitions,
)
from embodied_ai_architect.schemas.deployment import DeployRequest

NAMES = {"deploy_model", "analyze_model", "optimize_model", "list_targets", "get_run"}


@pytest.fixture(scope="module")
def onnx_cnn(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import torch

    from embodied_ai_architect.modelio.export import export_onnx
    from embodied_ai_architect.modelio.torch_io import handle_from_module
    from embodied_ai_architect.testing.models import SmallCNN

    root = tmp_path_factory.mktemp("tools")
    torch.manual_seed(0)
    handle = handle_from_module(SmallCNN(in_channels=3, image_size=16), name="cnn")
    path = export_onnx(handle, root / "cnn.onnx").onnx_path
    np.save(root / "test.npy", np.random.default_rng(0).random((2, 3, 16, 16), dtype=np.float32))
    return {"model": path, "test": root / "test.npy"}


def test_definitions_are_generated_from_the_request_models() -> None:
    definitions = {d["name"]: d for d in tool_definitions()}
    assert set(definitions) == NAMES
    deploy = definitions["deploy_model"]["input_schema"]
    assert deploy == DeployRequest.model_json_schema()
    assert {"model_path", "target", "precision", "calibration", "validation"} <= set(
        deploy["properties"]
    )
    assert deploy["required"] == ["model_path"]
    analyze = definitions["analyze_model"]["input_schema"]
    assert "handle" not in analyze["properties"] and "model_path" in analyze["properties"]
    assert "constraints" in definitions["optimize_model"]["input_schema"]["required"]
    for definition in definitions.values():
        assert definition["input_schema"]["type"] == "object" and definition["description"]
    openai = tool_definitions("openai")
    assert {d["function"]["name"] for d in openai} == NAMES and openai[0]["type"] == "function"


def test_list_targets() -> None:
    executors = create_tool_executors()
    assert set(executors) == NAMES
    targets = {t["name"]: t for t in executors["list_targets"]()["targets"]}
    assert targets["onnxruntime"]["available"] and not targets["jetson"]["available"]
    available = executors["list_targets"](available_only=True)["targets"]
    assert "jetson" not in {t["name"] for t in available}


def test_deploy_model_like_the_plan_calls_it(onnx_cnn: dict[str, Path], tmp_path: Path) -> None:
    result = create_tool_executors()["deploy_model"](
        model_path=str(onnx_cnn["model"]),
        input_shapes=[1, 3, 16, 16],
        target="onnxruntime",
        precision="fp16",
        validation={"test_data_path": str(onnx_cnn["test"]), "num_samples": 2, "latency_runs": 3},
        out_dir=str(tmp_path),
    )
    assert not is_error(result), result
    assert result["success"] and result["artifact"]["format"] == "onnx"
    assert result["validation"]["passed"] and "samples" not in result["validation"]
    assert Path(result["report_path"]).exists()


def test_structured_errors() -> None:
    executors = create_tool_executors()
    bad = executors["deploy_model"](model_path="m.onnx", precision="int4", colour="red")
    assert is_error(bad) and bad["error"]["code"] == "invalid_arguments"
    fields = {p["field"] for p in bad["error"]["details"]["problems"]}
    assert fields == {"precision", "colour"}
    unavailable = executors["deploy_model"](model_path=__file__, target="jetson")
    assert unavailable["error"]["code"] == "target_unavailable"
    assert "tensorrt" in unavailable["error"]["message"] and unavailable["error"]["hint"]
    no_test_data = executors["deploy_model"](model_path="m.onnx", validation={})
    assert no_test_data["error"]["code"] == "invalid_input" and no_test_data["error"]["hint"]
    missing = executors["get_run"](run_id="does-not-exist")
    assert missing["error"]["code"] == "not_found"
    no_constraints = executors["optimize_model"](model_path="m.onnx")
    assert no_constraints["error"]["code"] == "invalid_arguments"


def test_a_missing_component_is_reported_not_raised() -> None:
    spec = ToolSpec(
        "future_tool", "not yet", "embodied_ai_architect.not_there:Request", lambda r: {}
    )
    result = make_executor(spec)()
    assert result["error"]["code"] == "not_available" and result["error"]["hint"]


def test_analyze_model_calls_the_analysis_agent() -> None:
    result = create_tool_executors()["analyze_model"](
        example="cnn", measure_latency=False, sensitivity_top_k=0
    )
    assert not is_error(result), result
    assert result["family"]["family"] == "cnn_classifier"


@pytest.mark.slow
def test_optimize_model_then_get_run(tmp_path: Path) -> None:
    """A real (tiny) optimize run through the tool, then its record through get_run."""
    import torch

    from embodied_ai_architect.modelio.export import export_onnx
    from embodied_ai_architect.modelio.torch_io import handle_from_module
    from embodied_ai_architect.testing.models import MLPPolicy

    torch.manual_seed(0)
    handle = handle_from_module(MLPPolicy(obs_dim=8, act_dim=2, hidden=64, depth=2), name="pol")
    model = export_onnx(handle, tmp_path / "pol.onnx").onnx_path
    executors = create_tool_executors()
    run = executors["optimize_model"](
        model_path=str(model), constraints={"max_size_mb": 1.0}, latency_runs=5, max_eval_samples=50
    )
    assert not is_error(run), run
    assert run["status"] == "running" and run["run_id"]
    deadline = time.monotonic() + 600
    record = executors["get_run"](run_id=run["run_id"])
    while record["status"] not in ("succeeded", "failed") and time.monotonic() < deadline:
        time.sleep(1)
        record = executors["get_run"](run_id=run["run_id"])
    assert not is_error(record), record
    assert record["status"] == "succeeded" and record["progress"] == 100
    assert len(record["attempts"]) >= 1 and record["summary"]
    assert record["chosen"] and record["verdicts"] is not None  # stored when the run ended


def test_optimize_model_refuses_knowable_failures_at_once(tmp_path: Path) -> None:
    executors = create_tool_executors()
    missing = executors["optimize_model"](
        model_path=str(tmp_path / "nope.onnx"), constraints={"max_size_mb": 1.0}
    )
    assert is_error(missing) and "does not exist" in missing["error"]["message"]
    jetson = executors["optimize_model"](
        model_path=str(tmp_path / "nope.onnx"),
        constraints={"max_size_mb": 1.0, "target": "jetson"},
    )
    assert is_error(jetson) and jetson["error"]["code"] == "target_unavailable"


def test_every_tool_is_tested_here() -> None:
    source = Path(__file__).read_text()
    assert all(f'"{spec.name}"' in source for spec in TOOLS)
