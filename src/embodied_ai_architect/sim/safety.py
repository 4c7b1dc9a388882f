"""The safety filter: action clamps, joint limits and a fingertip workspace, counted per hit.

It sits between every policy (scripted or learned) and the simulator, so an optimized model
that emits NaN or out-of-range commands is caught and counted instead of crashing the scene.
"""

from __future__ import annotations

import numpy as np

from embodied_ai_architect.sim.scenes import tip_position
from embodied_ai_architect.sim.schemas import FilteredAction, SafetyLimits


class SafetyFilter:
    """Turns a raw policy output into a safe joint-position target.

    Order: non-finite values → 0 (``non_finite``), clamp to the action range
    (``action_clamp``), clip targets to joint ranges (``joint_limit``), veto a step whose
    target would move the fingertip out of the workspace annulus (``workspace``: hold still).
    """

    def __init__(
        self, limits: SafetyLimits, link_lengths: list[float], joint_ranges: np.ndarray
    ) -> None:
        self.limits = limits
        self.link_lengths = list(link_lengths)
        self.joint_ranges = np.asarray(joint_ranges, dtype=np.float64)

    @property
    def dim(self) -> int:
        return len(self.link_lengths)

    def apply(self, raw: np.ndarray, qpos: np.ndarray) -> FilteredAction:
        raw = np.asarray(raw, dtype=np.float64).reshape(-1)
        hits: list[str] = []
        if raw.shape != (self.dim,):
            from embodied_ai_architect.errors import SimulationError

            raise SimulationError(
                f"policy returned {raw.size} action values, the arm has {self.dim} joints",
                hint="the model's output must be [batch, n_joints]; check it was trained for "
                "this task",
            )
        finite = np.isfinite(raw)
        low, high = self.limits.action_low, self.limits.action_high
        in_range = bool(np.all(finite) and np.all((raw >= low) & (raw <= high)))
        if not np.all(finite):
            hits.append("non_finite")
        clean = np.where(finite, raw, 0.0)
        clamped = np.clip(clean, low, high)
        if np.any(clamped != clean):
            hits.append("action_clamp")
        target = qpos + clamped * self.limits.max_joint_step
        bounded = np.clip(target, self.joint_ranges[:, 0], self.joint_ranges[:, 1])
        if np.any(bounded != target):
            hits.append("joint_limit")
        executed = clamped
        tip_radius = float(np.linalg.norm(tip_position(self.link_lengths, bounded)))
        now_radius = float(np.linalg.norm(tip_position(self.link_lengths, qpos)))
        # Only steps that move further out of bounds are vetoed, so a pose that starts (or
        # drifted) outside can always move back in.
        outward = tip_radius > self.limits.workspace_radius and tip_radius > now_radius
        inward = tip_radius < self.limits.keepout_radius and tip_radius < now_radius
        if outward or inward:
            hits.append("workspace")
            # Hold the current pose: a vetoed step must not move the arm at all.
            bounded = np.asarray(qpos, dtype=np.float64).copy()
            executed = np.zeros_like(clamped)
        return FilteredAction(
            raw=raw,
            clamped=clamped,
            executed=executed,
            target_qpos=bounded,
            valid=in_range,
            hits=hits,
        )
