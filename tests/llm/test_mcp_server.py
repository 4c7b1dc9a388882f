"""`branes mcp` as a real subprocess, driven by the official MCP SDK's stdio client."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import pytest


@pytest.fixture(scope="module")
def onnx_model(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import torch

    from embodied_ai_architect.modelio.export import export_onnx
    from embodied_ai_architect.modelio.torch_io import handle_from_module
    from embodied_ai_architect.testing.models import MLPPolicy

    root = tmp_path_factory.mktemp("mcp")
    torch.manual_seed(0)
    handle = handle_from_module(MLPPolicy(obs_dim=8, act_dim=2, hidden=32, depth=2), name="policy")
    path = export_onnx(handle, root / "policy.onnx").onnx_path
    np.save(root / "obs.npy", np.random.default_rng(0).standard_normal((3, 8)).astype(np.float32))
    return {"model": path, "test": root / "obs.npy"}


async def session(workspace: Path, calls: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    params = StdioServerParameters(
        command=sys.executable,
        args=["-c", "from embodied_ai_architect.cli.app import main; main(['mcp'])"],
        env={"EAA_WORKSPACE": str(workspace), "PATH": os.environ.get("PATH", "")},
    )
    results: dict[str, Any] = {}
    with anyio.fail_after(480):
        async with Client(params, mode="legacy") as client:
            listed = await client.list_tools()
            results["tools"] = {tool.name: tool for tool in listed.tools}
            for index, (name, arguments) in enumerate(calls):
                results[f"{index}:{name}"] = await client.call_tool(name, arguments)
    return results


def test_tools_are_served_over_stdio(onnx_model: dict[str, Path], tmp_path: Path) -> None:
    calls = [
        ("list_targets", {}),
        (
            "deploy_model",
            {
                "model_path": str(onnx_model["model"]),
                "target": "onnxruntime",
                "precision": "int8",
                "int8_mode": "dynamic",
                "validation": {
                    "test_data_path": str(onnx_model["test"]),
                    "num_samples": 3,
                    "latency_runs": 3,
                    "tolerance_percent": 10,
                },
                "out_dir": str(tmp_path / "deploy"),
            },
        ),
        ("deploy_model", {"model_path": str(onnx_model["model"]), "precision": "int8"}),
        (
            "optimize_model",
            {
                "model_path": str(onnx_model["model"]),
                "constraints": {"max_size_mb": 1, "target": "jetson:orin-nano"},
            },
        ),
    ]
    results = anyio.run(session, tmp_path / "workspace", calls)
    tools = results["tools"]
    assert set(tools) == {
        "deploy_model",
        "analyze_model",
        "optimize_model",
        "list_targets",
        "get_run",
    }
    assert "precision" in tools["deploy_model"].input_schema["properties"]

    listed = results["0:list_targets"]
    assert not listed.is_error
    names = {t["name"]: t["available"] for t in listed.structured_content["targets"]}
    assert names["onnxruntime"] is True and names["jetson"] is False

    deployed = results["1:deploy_model"]
    assert not deployed.is_error, deployed.content[0].text
    assert deployed.structured_content["success"] is True
    assert Path(deployed.structured_content["artifact"]["path"]).exists()
    assert deployed.structured_content["validation"]["passed"]

    refused = results["2:deploy_model"]
    assert refused.is_error
    error = refused.structured_content["error"]
    assert error["code"] == "invalid_input" and "calibration" in error["message"] and error["hint"]

    # --target over MCP: an unavailable target is refused before any work, naming the gap...
    unavailable = results["3:optimize_model"]
    assert unavailable.is_error
    error = unavailable.structured_content["error"]
    assert error["code"] == "target_unavailable" and "tensorrt" in error["message"]


async def optimize_and_follow(workspace: Path, arguments: dict[str, Any]) -> list[Any]:
    """optimize_model returns a run id at once; get_run follows the run to its end."""
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    params = StdioServerParameters(
        command=sys.executable,
        args=["-c", "from embodied_ai_architect.cli.app import main; main(['mcp'])"],
        env={"EAA_WORKSPACE": str(workspace), "PATH": os.environ.get("PATH", "")},
    )
    seen: list[Any] = []
    with anyio.fail_after(600):
        async with Client(params, mode="legacy") as client:
            started = await client.call_tool("optimize_model", arguments)
            seen.append(started)
            run_id = started.structured_content["run_id"]
            while True:
                record = await client.call_tool("get_run", {"run_id": run_id})
                seen.append(record)
                if record.structured_content["status"] in ("succeeded", "failed"):
                    return seen
                await anyio.sleep(1)


def test_optimize_over_mcp_is_submitted_then_followed(
    onnx_model: dict[str, Path], tmp_path: Path
) -> None:
    seen = anyio.run(
        optimize_and_follow,
        tmp_path / "workspace",
        {
            "model_path": str(onnx_model["model"]),
            "constraints": {"max_size_mb": 1, "target": "onnxruntime"},
            "latency_runs": 5,
            "max_eval_samples": 32,
            "out_dir": str(tmp_path / "optimize"),
        },
    )
    started, final = seen[0], seen[-1]
    assert not started.is_error and started.structured_content["status"] == "running"
    assert len(seen) > 2  # the id came back before the run ended
    record = final.structured_content
    assert record["status"] == "succeeded", record["error"]
    assert record["progress"] == 100
    deployment = record["deployment"]  # the RunView every face returns
    assert record["chosen"] and record["verdicts"] is not None
    assert deployment["success"] and deployment["target"] == "onnxruntime"
    assert (tmp_path / "optimize" / "deployment" / "deployment.json").exists()
