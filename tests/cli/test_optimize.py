"""`branes optimize`, `branes runs`, `branes versions` through the real entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from embodied_ai_architect.cli.app import main


def _checkpoint(folder: Path) -> tuple[Path, list[str]]:
    import torch

    from embodied_ai_architect.testing.models import SmallCNN

    torch.manual_seed(0)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "cnn.pt"
    torch.save(SmallCNN(width=8).state_dict(), path)
    arch = [
        "--arch",
        "embodied_ai_architect.testing.models:SmallCNN",
        "--arch-kwargs",
        '{"width": 8}',
    ]
    return path, arch


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = 0
    try:
        main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_invalid_constraints_exit_2_with_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model, arch = _checkpoint(tmp_path)
    code, _, err = _run(["optimize", str(model), *arch, "--max-size", "-1"], capsys)
    assert code == 2
    assert "invalid constraints" in err and "max_size_mb must be positive" in err
    assert "hint:" in err
    code, _, err = _run(["optimize", str(model), *arch, "--max-success-drop", "5"], capsys)
    assert code == 2 and "--eval-sim" in err


def test_save_config_then_config_replays_the_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model, arch = _checkpoint(tmp_path)
    saved = tmp_path / "optimize.json"
    argv = ["optimize", str(model), *arch, "--max-size", "1.5", "--target", "onnxruntime"]
    code, out, _ = _run([*argv, "--seed", "7", "--save-config", str(saved)], capsys)
    assert code == 0 and f"wrote {saved}" in out
    request = json.loads(saved.read_text())
    assert request["constraints"]["max_size_mb"] == 1.5
    assert request["constraints"]["target"] == "onnxruntime"
    assert request["seed"] == 7 and request["load_options"]["arch_kwargs"] == {"width": 8}
    assert not (tmp_path / "report.json").exists()  # saving runs nothing
    # --config replays it whole (its flags win over the command line's) and can save it again.
    again = tmp_path / "again.json"
    code, _, _ = _run(
        ["optimize", str(model), "--config", str(saved), "--save-config", str(again)], capsys
    )
    assert code == 0 and json.loads(again.read_text()) == request
    saved.write_text(json.dumps({**request, "seed": "seven"}))
    code, _, err = _run(["optimize", str(model), "--config", str(saved)], capsys)
    assert code == 2 and "invalid optimize request" in err and "seed" in err


def test_unreachable_prints_evidence(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model, arch = _checkpoint(tmp_path)
    argv = ["optimize", str(model), *arch, "--max-latency-ms", "0.00001", "--out", str(tmp_path)]
    code, _, err = _run(argv, capsys)
    assert code == 2
    assert "constraints unreachable" in err and "most aggressive plan" in err
    assert (tmp_path / "report.json").exists()


def test_optimize_then_runs_and_versions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model, arch = _checkpoint(tmp_path / "m")
    out = tmp_path / "out"
    argv = [
        "optimize",
        str(model),
        *arch,
        "--max-accuracy-drop",
        "1",
        "--max-attempts",
        "2",
        "--out",
        str(out),
        "--json",
    ]
    code, stdout, _ = _run(argv, capsys)
    report = json.loads(stdout)
    assert code == (0 if report["status"] == "succeeded" else 1)
    # Session settings (ort_threads) are outside the attempt budget: they convert nothing.
    counted = [
        a
        for a in report["attempts"]
        if a["status"] != "skipped" and a["technique"] != "ort_threads"
    ]
    assert len(counted) <= 2
    assert (out / "report.json").exists() and (out / "report.html").exists()
    run_id = report["run_id"]

    code, stdout, _ = _run(["runs", "list", "--json"], capsys)
    assert code == 0 and run_id in [r["run_id"] for r in json.loads(stdout)]
    code, stdout, _ = _run(["runs", "show", run_id[:10]], capsys)
    assert code == 0 and "before / after" in stdout and "attempts" in stdout
    code, stdout, _ = _run(["runs", "compare", run_id, run_id], capsys)
    assert code == 0 and "p95 (ms)" in stdout
    code, stdout, _ = _run(["versions", "list", run_id], capsys)
    assert code == 0 and "v0" in stdout
    target = tmp_path / "restored.pt"
    code, stdout, _ = _run(["versions", "restore", run_id, "v0", "--out", str(target)], capsys)
    assert code == 0 and target.read_bytes() == Path(report["baseline"]["path"]).read_bytes()
    code, _, err = _run(["versions", "restore", run_id, "v99"], capsys)
    assert code == 2 and "no version 'v99'" in err


def test_fidelity_metric_and_objective_flags(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    import numpy as np

    model, arch = _checkpoint(tmp_path / "m")
    common = [str(model), *arch, "--max-attempts", "1", "--json"]
    argv = ["optimize", *common, "--fidelity", "top1:0.9", "--objective", "size"]
    code, stdout, _ = _run([*argv, "--out", str(tmp_path / "f")], capsys)
    report = json.loads(stdout)
    assert code == (0 if report["status"] == "succeeded" else 1)
    constraints = report["request"]["constraints"]
    assert constraints["fidelity"] == {"metric": "top1", "minimum": 0.9}
    assert constraints["objective"] == "size"
    assert report["baseline"]["metrics"]["accuracy_metric"] == "fidelity_top1"
    assert report["decision"].startswith("Optimised size, then p50 latency")
    assert report["held_out"]["metric"] == "fidelity_top1"

    # A metric module beside the data, imported from the current folder (CLI only).
    (tmp_path / "my_metric.py").write_text(
        "def mean_abs(model, data):\n"
        "    out = model.predict(data.inputs)[0]\n"
        "    return float(1 / (1 + abs(out).mean()))\n"
    )
    np.savez(tmp_path / "eval.npz", x=np.random.default_rng(0).random((40, 1, 8, 8), "float32"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    argv = ["optimize", *common, "--metric", "my_metric:mean_abs", "--max-accuracy-drop", "5"]
    argv += ["--eval-data", str(tmp_path / "eval.npz"), "--out", str(tmp_path / "u")]
    code, stdout, _ = _run(argv, capsys)
    report = json.loads(stdout)
    assert report["baseline"]["metrics"]["accuracy_evaluator"] == "metric:my_metric:mean_abs"
    assert report["held_out"]["split"] == {"calibration": 10, "selection": 15, "held_out": 15}
    code, _, err = _run(["optimize", *common, "--metric", "nowhere:f", "--max-size", "9"], capsys)
    assert code == 2 and "cannot import 'nowhere'" in err and "hint" in err


def test_a_bound_finer_than_one_sample_is_flagged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model, arch = _checkpoint(tmp_path / "m")
    out = tmp_path / "o"
    argv = ["optimize", str(model), *arch, "--max-attempts", "1", "--fidelity", "top1:0.999"]
    code, stdout, _ = _run([*argv, "--out", str(out)], capsys)
    report = json.loads((out / "report.json").read_text())
    assert code == (0 if report["status"] == "succeeded" else 1)
    # 0.1 points allowed; one of the selection samples is far more than that.
    resolution = report["resolution"]
    assert resolution["unit"] == "samples" and not resolution["resolves"]
    assert resolution["step_points"] > resolution["allowed_points"] > 0
    assert "about 1000 samples would resolve it" in resolution["message"]
    assert "bound resolution:" in stdout
    assert "bound resolution:" in (out / "report.html").read_text()
