"""Errors name request fields; each face renders its own name. Constraints: one validation.

The same bad constraints go through the CLI, REST (in-process ASGI) and the LLM tool: the same
rule refuses them with the same words; the CLI hint speaks of its flags, the LLM error names the
argument, REST returns the field of a refusal in its body.
"""

from __future__ import annotations

from pathlib import Path

from embodied_ai_architect.cli.fields import FLAGS, in_cli_terms
from embodied_ai_architect.errors import InputError

PROBLEM = "max_size_mb must be positive (got -1)"


def test_cli_renders_flags_for_the_fields_core_hints_name(branes, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    model = tmp_path / "m.onnx"
    model.write_bytes(b"not read: the constraints are refused first")
    run = branes("optimize", str(model), "--max-size", "-1")
    assert run.returncode == 2 and PROBLEM in run.stderr
    assert "--max-size 10, --max-latency-ms 20, --max-accuracy-drop 1, --target cpu" in run.stderr
    assert "`" not in run.stderr  # no field names left in backticks


def test_in_cli_terms_maps_nested_fields_and_leaves_other_code_alone() -> None:
    error = InputError(
        "INT8 needs calibration data",
        hint="give `calibration.data_path` or `input_shapes`; see `branes techniques list`",
        field="calibration.data_path",
    )
    assert error.to_dict()["field"] == "calibration.data_path"
    assert in_cli_terms(error.hint) == (
        "give --calibration-data or --input-shape; see `branes techniques list`"
    )
    assert in_cli_terms("`unknown_field`") == "`unknown_field`"
    assert all(flag for flag in FLAGS.values())


def test_llm_tool_names_the_argument() -> None:
    from embodied_ai_architect.llm.tools import create_tool_executors

    result = create_tool_executors()["optimize_model"](
        model_path="m.onnx", constraints={"max_size_mb": -1}
    )
    error = result["error"]
    assert error["code"] == "invalid_constraints" and PROBLEM in error["message"]
    assert error["field"] == "constraints"
    assert "`max_size_mb`" in error["hint"] and "--" not in error["hint"]


def test_rest_returns_the_field(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from embodied_ai_architect.api.app import create_app
    from embodied_ai_architect.settings import Settings

    settings = Settings(workspace=tmp_path / "ws")
    with TestClient(create_app(settings, start_workers=False)) as client:
        bad = client.post(
            "/api/v1/jobs",
            json={"kind": "optimize", "model_id": 1, "constraints": {"max_size_mb": -1}},
        )
        too_big = client.post(
            "/api/v1/jobs",
            json={
                "kind": "analyze",
                "example": "cnn",
                "input_shapes": [[1_000_000, 1_000_000, 1_000_000]],
            },
        )
    # The same rule (Constraints) refuses the constraints, in the same words.
    assert bad.status_code == 422 and PROBLEM in bad.json()["message"]
    body = too_big.json()
    assert too_big.status_code == 422, body
    assert body["field"] == "input_shapes" and body["hint"]


def test_every_mapped_flag_is_a_real_option() -> None:
    # The table names flags the CLI has: a renamed flag must not leave a stale hint behind.
    from typer.main import get_command

    from embodied_ai_architect.cli.app import build_app

    options: set[str] = set()
    stack = [get_command(build_app())]
    while stack:
        current = stack.pop()
        stack.extend(getattr(current, "commands", {}).values())
        for param in getattr(current, "params", []):
            options.update(o for o in getattr(param, "opts", []) if o.startswith("--"))
    flags = [f for f in FLAGS.values() if f.startswith("--") and " " not in f]
    assert len(flags) > 10
    assert [f for f in flags if f not in options] == []
