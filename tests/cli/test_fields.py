"""Core hints name request fields; the CLI shows its flags, REST returns the field.

One table (``cli/fields.py``) maps fields to flags, per command where a command's flag differs:
``config_path`` is ``branes analyze --config`` (a Hugging Face config.json), while
``branes deploy run --config`` reads a whole request file and must never be offered for it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from embodied_ai_architect.cli.fields import COMMAND_FLAGS, command_of, flag_for, in_cli_terms
from embodied_ai_architect.testing import models


@pytest.fixture
def state_dict(tmp_path: Path) -> Path:
    path = tmp_path / "weights.pt"
    torch.save(models.build_small_cnn(width=4).state_dict(), path)
    return path


def test_config_path_is_the_flag_of_the_command_that_has_it() -> None:
    assert command_of(["--debug", "analyze", "m.pt", "--config", "c.json"]) == "analyze"
    assert command_of(["deploy", "run", "m.onnx", "--config", "req.json"]) == ""
    assert flag_for("config_path", "analyze") == "--config"
    for argv in (["deploy", "run", "m.onnx"], ["optimize", "m.pt"], []):
        rendered = in_cli_terms("or `load.config_path`", command_of(argv))
        assert "--config" not in rendered and "config.json" in rendered
    # A field no table knows stays as written, in backticks.
    assert in_cli_terms("`nodes_to_exclude`", "analyze") == "`nodes_to_exclude`"


def test_every_command_flag_is_an_option_of_its_command() -> None:
    from typer.main import get_command

    from embodied_ai_architect.cli.app import build_app

    root = get_command(build_app())
    for command, flags in COMMAND_FLAGS.items():
        current = root
        for word in command.split():
            current = current.commands[word]  # type: ignore[attr-defined]
        options = {o for param in current.params for o in param.opts}
        assert set(flags.values()) <= options, (command, flags)


def test_analyze_hint_names_its_flags(branes, state_dict: Path) -> None:  # type: ignore[no-untyped-def]
    run = branes("analyze", str(state_dict), "--no-latency", "--sensitivity", "0")
    assert run.returncode == 2 and "state dict" in run.stderr
    assert "--arch" in run.stderr and "--arch-kwargs" in run.stderr and "--config" in run.stderr
    assert "`" not in run.stderr


def test_optimize_hint_never_offers_a_config_flag_it_lacks(branes, state_dict: Path) -> None:  # type: ignore[no-untyped-def]
    run = branes("optimize", str(state_dict), "--max-size", "10", "--out", str(state_dict.parent))
    assert run.returncode == 2 and "state dict" in run.stderr
    assert "--arch" in run.stderr and "--config" not in run.stderr
    assert "config.json next to the weights" in run.stderr and "`" not in run.stderr


def test_metric_error_names_the_flag_on_the_cli(branes, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    model = tmp_path / "m.onnx"
    model.write_bytes(b"not read: the metric is refused first")
    run = branes("optimize", str(model), "--metric", "os:system", "--max-accuracy-drop", "1")
    assert run.returncode == 2
    assert "--metric 'os:system'" in run.stderr and "`" not in run.stderr


def test_rest_returns_the_metric_field(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient
    from onnx import TensorProto, helper

    from embodied_ai_architect.api.app import create_app
    from embodied_ai_architect.settings import Settings

    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    settings = Settings(workspace=tmp_path / "ws")
    with TestClient(create_app(settings, start_workers=False)) as client:
        uploaded = client.post(
            "/api/v1/models",
            params={"filename": "m.onnx"},
            content=model.SerializeToString(),
            headers={"Content-Type": "application/octet-stream"},
        )
        assert uploaded.status_code == 201, uploaded.text
        bad = client.post(
            "/api/v1/jobs",
            json={
                "kind": "optimize",
                "model_id": uploaded.json()["id"],
                "metric": "os:system",
                "constraints": {"max_accuracy_drop": 1},
            },
        )
    body = bad.json()
    assert bad.status_code == 422, body
    assert body["field"] == "metric" and "`metric` 'os:system'" in body["message"]
    assert "--" not in body["message"] + body["hint"]
