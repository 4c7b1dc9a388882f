"""`branes deploy run` / `branes deploy list` end to end (real ORT artifacts and validation)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from embodied_ai_architect.cli import app as cli_app
from embodied_ai_architect.testing.assets import save_wide_cnn, write_images

IMAGE_SIZE = 64


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli_deploy")
    return {
        "cnn": save_wide_cnn(root / "cnn.pt", image_size=IMAGE_SIZE),
        "calib": write_images(root / "calib", 16, size=IMAGE_SIZE, seed=1),
        "test": write_images(root / "test", 6, size=IMAGE_SIZE, seed=2),
    }


def branes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    # Only this area's commands: the test must not depend on other command modules.
    monkeypatch.setattr(cli_app, "COMMAND_MODULES", ["deploy", "mcp", "runs"])
    monkeypatch.setattr(sys, "argv", ["branes", *args])
    code = 0
    try:
        cli_app.main(list(args))
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_int8_run_builds_validates_and_reports_a_speedup(
    assets: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = branes(
        monkeypatch,
        capsys,
        "deploy", "run", str(assets["cnn"]),
        "--target", "onnxruntime", "--precision", "int8",
        "--calibration-data", str(assets["calib"]), "--num-calibration", "16",
        "--input-shape", "1,3,64,64",
        "--test-data", str(assets["test"]), "--validate", "--num-test", "6",
        "--tolerance", "1",
        "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert code == 0, out + err
    assert "validation PASSED" in out and "speedup" in out and "top-1 agreement" in out
    assert "100%" in err  # the progress bar reached the end (rendered on stderr)
    report = json.loads((tmp_path / "out" / "deployment.json").read_text())
    assert report["success"] and Path(report["artifact"]["path"]).exists()
    latency = report["validation"]
    assert latency["speedup"] == pytest.approx(
        latency["baseline_latency"]["p50_ms"] / latency["deployed_latency"]["p50_ms"]
    )
    assert (tmp_path / "out" / "validation.json").exists()
    # The deploy was a recorded one-step run: `branes runs show` tells it.
    assert f"branes runs show {report['run_id']}" in " ".join(out.split())  # rich wraps lines
    code, shown, err = branes(monkeypatch, capsys, "runs", "show", report["run_id"], "--json")
    assert code == 0, err
    run = json.loads(shown)
    assert run["kind"] == "deploy" and run["chosen"] == report["version"] == "v1"
    assert [s["technique"] for p in run["plans"] for s in p["steps"]] == ["ort_int8_static"]
    assert [a["technique"] for a in run["attempts"]] == ["ort_int8_static"]


def test_fp16_without_calibration_json_output(
    assets: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = branes(
        monkeypatch,
        capsys,
        "deploy", "run", str(assets["cnn"]), "--precision", "fp16",
        "--input-shape", "1,3,64,64", "--test-data", str(assets["test"]), "--num-test", "2",
        "--out", str(tmp_path), "--json",
    )  # fmt: skip
    assert code == 0
    result = json.loads(out)
    assert result["precision"] == "fp16" and result["validation"]["passed"]


def test_user_errors_exit_2_with_a_hint(
    assets: dict[str, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = branes(
        monkeypatch, capsys, "deploy", "run", str(assets["cnn"]), "--precision", "int8",
        "--input-shape", "1,3,64,64",
    )  # fmt: skip
    assert code == 2
    assert "needs calibration data" in err and "hint:" in err
    code, _, err = branes(monkeypatch, capsys, "deploy", "run", str(assets["cnn"]), "-p", "int4")
    assert code == 2 and "precision" in err
    code, _, err = branes(monkeypatch, capsys, "deploy", "run", str(assets["cnn"]), "--validate")
    assert code == 2 and "needs test data" in err
    # BF16 compute is OpenVINO's (on CPUs with native BF16): ONNX Runtime says what it has.
    code, _, err = branes(
        monkeypatch, capsys, "deploy", "run", str(assets["cnn"]), "-p", "bf16",
        "--input-shape", "1,3,64,64",
    )  # fmt: skip
    assert code == 2 and "does not support bf16" in err and "fp32" in err


def test_unknown_and_unavailable_targets_exit_2_before_any_work(
    assets: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "out"
    code, _, err = branes(
        monkeypatch, capsys, "deploy", "run", str(assets["cnn"]), "--target", "jetson",
        "--input-shape", "1,3,64,64", "--out", str(out),
    )  # fmt: skip
    assert code == 2 and "tensorrt" in err.lower() and "hint:" in err
    code, _, err = branes(
        monkeypatch, capsys, "deploy", "run", str(assets["cnn"]), "--target", "jetsn",
        "--out", str(out),
    )  # fmt: skip
    assert code == 2 and "unknown target" in err and "onnxruntime" in err
    assert not out.exists(), "refused before anything is written"


def test_failed_validation_exits_1(
    assets: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = branes(
        monkeypatch, capsys, "deploy", "run", str(assets["cnn"]), "-p", "fp16",
        "--input-shape", "1,3,64,64", "--test-data", str(assets["test"]), "--num-test", "2",
        "--tolerance", "0.000001", "--out", str(tmp_path),
    )  # fmt: skip
    assert code == 1 and "FAILED" in out and "exceeds" in out


def test_save_config_round_trips(
    assets: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "deploy.json"
    code, _, _ = branes(
        monkeypatch, capsys, "deploy", "run", str(assets["cnn"]), "-p", "int8",
        "--calibration-data", str(assets["calib"]), "--input-shape", "1,3,64,64",
        "--save-config", str(config),
    )  # fmt: skip
    assert code == 0
    saved = json.loads(config.read_text())
    assert saved["precision"] == "int8" and saved["calibration"]["data_path"] == str(
        assets["calib"]
    )
    assert saved["input_shapes"] == [[1, 3, 64, 64]]


def test_list_tells_the_truth(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = branes(monkeypatch, capsys, "deploy", "list", "--json")
    assert code == 0
    targets = {t["name"]: t for t in json.loads(out)}
    assert set(targets) >= {"onnxruntime", "jetson", "openvino", "tflite"}
    assert targets["onnxruntime"]["available"] is True
    assert targets["jetson"]["available"] is False
    assert "needs tensorrt (not importable" in targets["jetson"]["reason"]
    code, out, _ = branes(monkeypatch, capsys, "deploy", "list")
    assert code == 0 and "jetson: needs tensorrt (not importable" in " ".join(out.split())
    assert "[jetson]" in out  # the extra's name survives Rich markup
