"""Whether the selection data can resolve the accuracy bound: counted scores move in steps."""

from __future__ import annotations

from typing import Any

from embodied_ai_architect.agents.evaluation.resolution import bound_resolution, counted_units
from embodied_ai_architect.schemas.constraints import Constraints
from embodied_ai_architect.schemas.results import VersionMetrics


def v0(metric: str, details: dict[str, Any], accuracy: float = 1.0) -> VersionMetrics:
    return VersionMetrics(
        size_bytes=1000,
        parameters=10,
        runtime="onnxruntime",
        p50_ms=1.0,
        p95_ms=1.1,
        throughput_per_s=1000.0,
        threads=1,
        accuracy=accuracy,
        accuracy_metric=metric,
        accuracy_details=details,
    )


YOLO = v0(  # the peers run's YOLOv8s on 48 photo crops (run 7)
    "fidelity",
    {
        "output_0": {"cosine": 1.0, "score": 1.0},
        "output_0:detections": {"confident_anchors": 46.0, "detections": 8.0, "map50": 1.0},
    },
)


def test_eight_detections_cannot_resolve_a_two_point_bound() -> None:
    found = bound_resolution(Constraints(max_accuracy_drop=2), YOLO, selection_size=48)
    assert found is not None and not found.resolves
    assert (found.units, found.unit) == (8, "reference detections")
    assert found.step_points == 12.5 and abs(found.allowed_points - 2.0) < 1e-9
    assert "only 8 reference detections" in found.message
    assert "a single detection lost decides a verdict" in found.message
    assert "about 50 reference detections" in found.message  # 1 / 0.02


def test_enough_units_resolve_the_bound() -> None:
    episodes = v0("success_rate", {"episodes": 20, "success_rate": 0.95}, accuracy=0.95)
    five = bound_resolution(Constraints(max_accuracy_drop=5), episodes, selection_size=0)
    assert five is not None and five.resolves and five.unit == "episodes"
    two = bound_resolution(Constraints(max_accuracy_drop=2), episodes, selection_size=0)
    assert two is not None and not two.resolves
    labelled = v0("top1_accuracy", {}, accuracy=0.976)
    found = bound_resolution(Constraints(max_accuracy_drop=1), labelled, selection_size=169)
    assert found is not None and found.resolves and (found.units, found.unit) == (169, "samples")


def test_zero_loss_is_never_resolved_and_says_why() -> None:
    labelled = v0("top1_accuracy", {}, accuracy=0.92)
    found = bound_resolution(Constraints(max_accuracy_drop=0), labelled, selection_size=169)
    assert found is not None and not found.resolves
    assert "any lost unit fails it" in found.message


def test_continuous_scores_and_unbounded_runs_have_no_step() -> None:
    cosine = v0("fidelity", {"output_0": {"cosine": 1.0, "score": 1.0}})
    assert counted_units(cosine, selection_size=64) is None
    assert bound_resolution(Constraints(max_accuracy_drop=2), cosine, 64) is None
    assert bound_resolution(Constraints(max_size_mb=1), YOLO, 48) is None
    # A detector that finds nothing confident is judged on its top anchors: counted too.
    blank = v0("fidelity", {"o:detections": {"confident_anchors": 16.0, "detections": 0.0}})
    assert counted_units(blank, selection_size=32) == (16, "confident anchors")
