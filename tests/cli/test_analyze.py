"""`branes analyze`: the Rich report, --json parsed back into a ModelProfile, clean errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from embodied_ai_architect.cli.app import build_app
from embodied_ai_architect.schemas.profile import ArchitectureFamily, ModelProfile
from embodied_ai_architect.testing.models import SmallCNN, count_parameters


def test_human_report_has_every_section() -> None:
    result = CliRunner().invoke(
        build_app(),
        ["analyze", "--example", "mlp_policy", "--no-latency", "--sensitivity", "2"],
    )
    assert result.exit_code == 0, result.output
    for section in (
        "Model mlp_policy",
        "Weights by dtype",
        "Layer census",
        "Largest layers",
        "Architecture: mlp_policy",
        "INT8 sensitivity",
        "Host",
        "Capabilities",
        "Optimization opportunities",
    ):
        assert section in result.stdout, section
    assert "136,964" in result.stdout  # MLPPolicy's true parameter count


def test_json_is_a_model_profile_on_stdout_only(branes) -> None:  # type: ignore[no-untyped-def]
    result = branes("analyze", "--example", "cnn", "--json", "--no-latency", "--sensitivity", "1")
    assert result.returncode == 0, result.stderr
    profile = ModelProfile.model_validate_json(result.stdout)
    assert profile.parameters == count_parameters(SmallCNN())
    assert profile.family.family is ArchitectureFamily.CNN_CLASSIFIER
    assert profile.latency == [] and len(profile.sensitivity) == 1
    assert "analysis finished" in result.stderr  # the progress bar went to stderr


def test_missing_file_is_a_message_and_hint_without_traceback(branes, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = branes("analyze", str(tmp_path / "missing.onnx"))
    assert result.returncode == 2
    assert "error:" in result.stderr and "does not exist" in result.stderr
    assert "hint:" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stdout == ""


def test_usage_errors_explain_what_to_do(branes) -> None:  # type: ignore[no-untyped-def]
    result = branes("analyze")
    assert result.returncode == 2 and "no model given" in result.stderr
    assert "--example" in result.stderr
    bad = branes("analyze", "--example", "cnn", "--arch-kwargs", "{not json")
    assert bad.returncode == 2 and "--arch-kwargs is not valid JSON" in bad.stderr
    threads = branes("analyze", "--example", "cnn", "--threads", "0")
    assert threads.returncode == 2 and "invalid option threads" in threads.stderr
    assert "Traceback" not in bad.stderr + threads.stderr


def test_state_dict_with_arch_and_kwargs(branes, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import torch

    path = tmp_path / "cnn_state.pt"
    torch.save(SmallCNN(width=8).state_dict(), path)
    arch = "embodied_ai_architect.testing.models:build_small_cnn"
    common = ("--no-latency", "--sensitivity", "0", "--json")
    result = branes("analyze", str(path), "--arch", arch, "--arch-kwargs", '{"width": 8}', *common)
    assert result.returncode == 0, result.stderr
    profile = ModelProfile.model_validate_json(result.stdout)
    assert profile.parameters == count_parameters(SmallCNN(width=8))
    assert profile.sha256 and profile.file_bytes == path.stat().st_size

    wrong = branes("analyze", str(path), "--arch", arch, *common)  # default width 16
    assert wrong.returncode == 2 and "the weights in 'cnn_state.pt'" in wrong.stderr
    assert "hint:" in wrong.stderr and wrong.stdout == ""


def test_click_usage_errors_are_shown_not_reported_as_internal(branes) -> None:  # type: ignore[no-untyped-def]
    extra = branes("analyze", "model.onnx", "unexpected")
    assert extra.returncode == 2
    assert (
        "unexpected extra argument" in extra.stderr
        and "Try 'branes analyze --help'" in extra.stderr
    )
    unknown = branes("analyze", "--no-such-option")
    assert unknown.returncode == 2 and "No such option" in unknown.stderr
    assert "internal error" not in extra.stderr + unknown.stderr


def test_hints_with_brackets_are_printed_verbatim(capsys: pytest.CaptureFixture[str]) -> None:
    from embodied_ai_architect.cli.app import render_error
    from embodied_ai_architect.errors import DependencyError

    render_error(DependencyError("imageio is missing [x]", hint="pip install 'pkg[video]'"))
    err = capsys.readouterr().err
    assert "pip install 'pkg[video]'" in err and "missing [x]" in err
