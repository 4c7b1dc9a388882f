"""Scripted experts: Jacobian (resolved-rate) controllers that solve reach and push.

They are memoryless functions of the environment state, like the learned policies, so
behaviour cloning can imitate them exactly. They read the simulator directly (privileged
information), which is why they are references, not deployable policies.
"""

from __future__ import annotations

import numpy as np

from embodied_ai_architect.sim.env import SimEnv
from embodied_ai_architect.sim.scenes import TIP_RADIUS

PUSH_STEP = 0.015  # slower while in contact: a fast fingertip knocks the puck off-line
TIP_STEP = 0.03  # m of desired fingertip motion per control step, before the gain
JOINT_GAIN = 15.0  # action units per rad of desired joint motion (≈ 1 / rad per step at a=1)
DAMPING = 0.05  # damped-least-squares λ (m): bounds joint speeds near singular poses
NULLSPACE_GAIN = 0.3  # pulls redundant joints toward a relaxed pose, away from the limits


def _clip_norm(vector: np.ndarray, limit: float) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector if norm <= limit else vector * (limit / norm)


def toward(tip: np.ndarray, target: np.ndarray, limit: float = TIP_STEP) -> np.ndarray:
    """A bounded fingertip step toward ``target`` along an arc around the base.

    Straight lines across the base pass through the arm's singular, folded configurations;
    moving in polar coordinates (rotate the shoulder, extend / retract) keeps clear of them.
    """
    r_tip, r_target = float(np.linalg.norm(tip)), float(np.linalg.norm(target))
    if r_tip < 1e-6 or float(np.linalg.norm(target - tip)) < 0.05:
        return _clip_norm(target - tip, limit)
    angle = np.arctan2(tip[1], tip[0])
    # No wrap-around: the shoulder cannot turn through the back of the base (joint limit),
    # and a wrapped angle would make the expert discontinuous there, which BC cannot imitate.
    delta = np.arctan2(target[1], target[0]) - angle
    radial = np.array([np.cos(angle), np.sin(angle)])
    tangential = np.array([-radial[1], radial[0]])
    return _clip_norm(radial * (r_target - r_tip) + tangential * (r_tip * delta), limit)


def tip_displacement_to_action(env: SimEnv, displacement: np.ndarray) -> np.ndarray:
    """Resolved-rate IK: desired fingertip displacement → normalized joint command.

    Damped least squares rather than a plain pseudo-inverse: it stays smooth near the
    stretched / folded singularities, which keeps the expert easy to imitate.
    """
    jac = env.jacobian()
    pinv = jac.T @ np.linalg.inv(jac @ jac.T + DAMPING**2 * np.eye(2))
    dq = pinv @ displacement
    nullspace = np.eye(env.n_joints) - pinv @ jac
    dq = dq + nullspace @ (-NULLSPACE_GAIN * 0.1 * env.qpos)
    return np.clip(dq * JOINT_GAIN, -1.0, 1.0)


def reach_expert(env: SimEnv) -> np.ndarray:
    return tip_displacement_to_action(env, toward(env.tip, env.goal))


def push_expert(env: SimEnv) -> np.ndarray:
    """Go behind the puck (around it if needed), then push it along the puck→goal line."""
    puck = env.puck
    assert puck is not None and env.params.puck is not None
    tip = env.tip
    to_goal = env.goal - puck
    distance = float(np.linalg.norm(to_goal))
    u = to_goal / max(distance, 1e-9)
    contact = env.params.puck.radius + TIP_RADIUS
    rel = tip - puck
    along = float(rel @ u)
    lateral = rel - along * u
    lat = float(np.linalg.norm(lateral))
    gap = float(np.linalg.norm(rel))
    if -contact - 0.03 < along < -contact + 0.012 and lat < 0.012:
        # Pushing: advance along u, steer out the lateral offset so the push stays central.
        displacement = u * min(PUSH_STEP, distance + 0.01) - 0.5 * lateral
        return tip_displacement_to_action(env, displacement)
    if gap < contact + 0.035 and along > -0.9 * contact:
        # Close but not behind: orbit the puck toward its back, keeping a small clearance.
        radial = rel / max(gap, 1e-9)
        tangent = np.array([-radial[1], radial[0]])
        if float(tangent @ u) > 0:
            tangent = -tangent
        displacement = tangent * PUSH_STEP + radial * (contact + 0.02 - gap)
        return tip_displacement_to_action(env, _clip_norm(displacement, PUSH_STEP))
    pre = puck - u * (contact + 0.01)
    return tip_displacement_to_action(env, toward(tip, pre))


EXPERTS = {"reach": reach_expert, "push": push_expert}
