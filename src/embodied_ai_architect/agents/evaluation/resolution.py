"""How finely the selection data resolves the accuracy bound, said before any candidate is judged.

A score that counts things — reference detections found again, episodes succeeded, samples whose
class agrees — moves in steps of one thing. When one step is larger than the loss the bound
allows, a single lost detection or episode decides every verdict, and two equally good
candidates can land on either side of the bound by chance (YOLOv8s on 48 photo crops: 8
reference detections, 12.5 points a detection against a 2-point bound). The run says so up front,
with how much data would resolve the bound, instead of leaving the user to find out from a
held-out figure that disagrees with the selection one.
"""

from __future__ import annotations

import math
from typing import Any

from embodied_ai_architect.schemas.constraints import Constraints
from embodied_ai_architect.schemas.evaluation import BoundResolution
from embodied_ai_architect.schemas.results import VersionMetrics


def counted_units(metrics: VersionMetrics, selection_size: int) -> tuple[int, str] | None:
    """(how many things the original's score counts on the selection data, what they are);
    None for continuous figures (cosine, IoU, a user metric), which have no step.
    ``selection_size``: the evaluator's count when the score does not carry its own."""
    details: dict[str, Any] = metrics.accuracy_details
    if metrics.accuracy_metric == "success_rate" and "episodes" in details:
        return int(details["episodes"]), "episodes"
    parts = [part for part in details.values() if isinstance(part, dict)]
    detections = [int(part["detections"]) for part in parts if "detections" in part]
    if detections:
        if min(detections) > 0:
            return min(detections), "reference detections"
        anchors = [int(part.get("confident_anchors", 0)) for part in parts if "detections" in part]
        return max(1, min(anchors)), "confident anchors"
    counts_samples = metrics.accuracy_metric == "top1_accuracy" or any(
        "top1_agreement" in part for part in parts
    )
    samples = metrics.accuracy_samples or selection_size
    if counts_samples and samples > 0:
        return samples, "samples"
    return None


def bound_resolution(
    constraints: Constraints, baseline: VersionMetrics, selection_size: int
) -> BoundResolution | None:
    """Whether one counted unit is finer than the loss the bound allows (None: no bound, no
    score, or a continuous one)."""
    if baseline.accuracy is None or not constraints.has_accuracy_bound():
        return None
    counted = counted_units(baseline, selection_size)
    if counted is None:
        return None
    units, unit = counted
    allowed = max(0.0, baseline.accuracy - constraints.accuracy_floor(baseline.accuracy))
    step = 1.0 / units
    resolves = step <= allowed + 1e-9
    # Units for one step to fit in the allowed loss; the same data scaled up, as a guide.
    needed = math.ceil(1.0 / allowed) if allowed > 0 else None
    if resolves:
        message = (
            f"the selection data counts {units} {unit}: one is {step * 100:.2g} points, within "
            f"the {allowed * 100:.3g}-point loss the bound allows"
        )
    else:
        more = (
            f"about {needed} {unit} would resolve it (×{needed / units:.0f} the data)"
            if needed is not None
            else "a bound of zero loss is never resolved by a sample: any lost unit fails it"
        )
        message = (
            f"the selection data counts only {units} {unit}: one is {step * 100:.3g} points, "
            f"more than the {allowed * 100:.3g}-point loss the bound allows, so a single "
            f"{unit.rstrip('s').split()[-1]} lost decides a verdict; {more} — give more "
            "evaluation data"
        )
    return BoundResolution(
        units=units,
        unit=unit,
        step_points=step * 100,
        allowed_points=allowed * 100,
        resolves=resolves,
        message=message,
    )
