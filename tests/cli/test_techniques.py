"""`branes techniques list/show` against the real registry."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cli_runner import runner
from embodied_ai_architect.agents.optimization.base import get_technique, load_techniques
from embodied_ai_architect.cli.app import build_app


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("COLUMNS", "250")  # Rich must not wrap the cells the tests look for
    return CliRunner()


def test_list_shows_every_technique_with_its_availability(cli: CliRunner) -> None:
    result = cli.invoke(build_app(), ["techniques", "list"])
    assert result.exit_code == 0, result.output
    for name, spec in load_techniques().items():
        assert name in result.output
        assert spec.availability()[1] in result.output
    for column in ("family", "runtime", "precisions", "needs data", "availability"):
        assert column in result.output


def test_list_json_matches_the_registry(cli: CliRunner) -> None:
    result = cli.invoke(build_app(), ["techniques", "list", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [row["name"] for row in rows] == load_techniques().names()
    static = next(row for row in rows if row["name"] == "ort_int8_static")
    assert static["needs_data"] == "calibration" and static["precisions"] == ["int8"]


def test_show_prints_manifest_config_defaults_and_search(cli: CliRunner) -> None:
    result = cli.invoke(build_app(), ["techniques", "show", "ort_int8_static"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "OrtInt8StaticConfig" in out and "onnxruntime" in out and "calibration" in out
    calibration = next(line for line in out.splitlines() if "calibration_method" in line)
    assert '"minmax"' in calibration and '"entropy", "percentile"' in calibration
    description = get_technique("ort_int8_static").config_type.model_fields["scheme"].description
    assert description and description in out


def test_show_json_lists_every_config_field(cli: CliRunner) -> None:
    result = cli.invoke(build_app(), ["techniques", "show", "prune_structured", "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    config_type = get_technique("prune_structured").config_type
    assert [f["name"] for f in info["fields"]] == list(config_type.model_fields)
    assert {f["name"]: f["search"] for f in info["fields"]}["ratio"] == [0.25, 0.5, 0.75]


def test_show_unknown_name_exits_2_and_lists_the_available(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    result = runner(capsys, monkeypatch)("techniques", "show", "ort_int9")
    assert result.returncode == 2
    assert "unknown technique 'ort_int9'" in result.stderr and "ort_int8_static" in result.stderr
    assert "internal error" not in result.stderr
