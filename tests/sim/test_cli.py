"""`branes sim ...` end to end through the real CLI app (expert policy: no training needed)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from embodied_ai_architect.cli.app import build_app


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(build_app(), ["sim", *args])
    return result.exit_code, result.output


def test_suites_and_generate(tmp_path: Path) -> None:
    code, out = _run("suites")
    assert code == 0 and "reach-v0/smoke" in out and "push-v0/full" in out
    code, out = _run(
        "generate", "--family", "push", "--seed", "4", "--out", str(tmp_path / "s.xml")
    )
    assert code == 0 and "valid" in out
    assert "<mujoco" in (tmp_path / "s.xml").read_text()


def test_validate_reports_per_seed(tmp_path: Path) -> None:
    code, out = _run("validate", "--family", "reach", "--seeds", "0-2", "--json")
    assert code == 0
    assert [r["seed"] for r in json.loads(out)] == [0, 1, 2]
    broken = tmp_path / "broken.xml"
    broken.write_text("<mujoco><worldbody>")
    code, out = _run("validate", "--xml", str(broken), "--family", "reach")
    assert code == 1 and "xml_parse" in out


def test_rollout_renders_and_eval_prints_table(tmp_path: Path) -> None:
    gif = tmp_path / "episode.gif"
    trace = tmp_path / "trace.jsonl"
    code, out = _run(
        "rollout", "--task", "reach", "--seed", "1002", "--render", str(gif), "--trace", str(trace)
    )
    assert code == 0, out
    assert "success" in out and gif.stat().st_size > 0 and trace.read_text().count("\n") > 3
    code, out = _run(
        "eval", "--suite", "reach-v0/smoke", "--limit", "2", "--out", str(tmp_path / "r")
    )
    assert code == 0, out
    assert "expert-reach" in out and "100.0 %" in out
    results = json.loads((tmp_path / "r" / "results.json").read_text())
    assert results["expert-reach"]["episodes"] == 2
    manifest = json.loads((tmp_path / "r" / "manifest.json").read_text())
    assert [s["seed"] for s in manifest["scenes"]] == [1000, 1001]
