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
    assert len([a for a in report["attempts"] if a["status"] != "skipped"]) <= 2
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
