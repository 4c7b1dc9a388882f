"""benchmarks/peers_policies.py: the closed-loop verdicts of the peers benchmark's policy rows."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import peers_policies

from embodied_ai_architect.schemas.tensors import TensorSpec


def _row(tool: str, p50: float, int8: bool) -> dict[str, Any]:
    return {
        "tool": tool,
        "runtime": "onnxruntime",
        "p50_ms": p50,
        "size_mb": 0.1,
        "int8": int8,
        "fidelity": 0.99,
        "wall_s": 1.0,
        "error": None,
        "note": "",
    }


def _loop(success: float) -> dict[str, Any]:
    return {"success_rate": success, "mean_episode_length": 26.0}


def _rows() -> list[dict[str, Any]]:
    rows = [
        _row("original FP32", 1.0, False),
        _row("ort_dynamic", 2.0, True),
        _row("ort_static", 0.5, True),
        _row("branes", 0.9, False),
    ]
    loops = {
        "original FP32": _loop(0.95),
        "ort_dynamic": _loop(0.95),
        "ort_static": _loop(0.85),  # 10 points lost: outside a 2-point bound
        "branes": _loop(0.95),
    }
    peers_policies.annotate(rows, loops)
    return rows


def test_rows_get_success_drop_and_speedup_against_the_original() -> None:
    rows = {r["tool"]: r for r in _rows()}
    assert rows["ort_static"]["success_drop_points"] == 10.0
    assert rows["ort_dynamic"]["success_drop_points"] == 0.0
    assert rows["ort_static"]["speedup_vs_fp32"] == 2.0
    assert rows["ort_dynamic"]["speedup_vs_fp32"] == 0.5


def test_comparison_is_by_success_and_a_fast_peer_outside_the_bound_does_not_count() -> None:
    comparison = peers_policies.compare_success(_rows(), drop=2.0)
    assert comparison["success_floor"] == 0.93
    assert comparison["branes_meets_bound"] is True
    # ort_static is the fastest peer but lost 10 points: the best peer inside the bound is
    # ort_dynamic, and only it counts towards the INT8 bar.
    assert comparison["within_bound"]["peer"] == "ort_dynamic"
    assert comparison["within_bound"]["ratio"] == 0.45
    assert comparison["int8_within_bound"] == {"ort_dynamic": 0.5}


def test_markdown_reports_success_and_signed_drop() -> None:
    text = peers_policies.policy_markdown([{"model": "reach_vla_policy", "rows": _rows()}])
    static = next(line for line in text.splitlines() if "| ort_static |" in line)
    assert "| 85 % | -10 |" in static
    assert "| 2.00 |" in static  # × vs FP32


def test_runner_handle_feeds_inputs_in_the_models_order() -> None:
    seen: list[list[str]] = []

    def run(feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        seen.append(list(feeds))
        return [np.zeros((1, 3), np.float32)]

    inputs = [
        TensorSpec(name="image", shape=[1, 3, 8, 8]),
        TensorSpec(name="proprio", shape=[1, 2]),
    ]
    handle = peers_policies.RunnerHandle("v", run, inputs)
    out = handle.run({"proprio": np.zeros((1, 2)), "image": np.zeros((1, 3, 8, 8))})
    assert seen == [["image", "proprio"]]
    assert list(out) == ["output_0"]


def test_a_row_timed_with_its_own_thread_count_says_so() -> None:
    # branes may ship a package that loads with 1 intra-op thread; its row is timed that way
    assert peers_policies.runtime_label({"runtime": "onnxruntime", "threads": 1}) == (
        "onnxruntime, 1 thread"
    )
    assert peers_policies.runtime_label({"runtime": "openvino", "threads": 2}) == "openvino"
    assert peers_policies.runtime_label({"runtime": None}) == "–"


def test_a_row_compiled_in_a_pinned_precision_says_so() -> None:
    # branes' IRs compile as their package does (e.g. BF16 compute); peers at the plugin default
    row = {"runtime": "openvino", "threads": 2, "inference_precision": "bf16"}
    assert peers_policies.runtime_label(row) == "openvino bf16"
    peer = {"runtime": "openvino", "threads": 2, "inference_precision": "plugin default"}
    assert peers_policies.runtime_label(peer) == "openvino"
