"""Parametric MJCF scene families: a planar arm that reaches a goal, or pushes a puck to one.

A family turns ``seed`` into typed :class:`SceneParams` (all randomization happens there, so a
scene is fully described by its parameters) and the parameters into MJCF text. The same seed
always gives the same XML, byte for byte; suites store the XML's hash to prove it.

Example:
    >>> params = generate_params("reach", seed=3)
    >>> xml = build_mjcf(params)
"""

from __future__ import annotations

import itertools
import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from embodied_ai_architect.errors import ConfigError
from embodied_ai_architect.registry import Registry

COLORS: dict[str, tuple[float, float, float]] = {
    "red": (0.9, 0.1, 0.1),
    "green": (0.1, 0.8, 0.1),
    "blue": (0.1, 0.2, 0.95),
    "yellow": (0.95, 0.9, 0.1),
    "purple": (0.6, 0.1, 0.8),
    "cyan": (0.1, 0.85, 0.9),
}
ARM_Z = 0.1  # the arm (and the puck) move in the horizontal plane at this height
MARKER_Z = 0.03  # goal and distractor balls rest near the table
TIP_RADIUS = 0.02
LINK_RADIUS = 0.018


class Marker(BaseModel):
    """A coloured visual sphere (goal or distractor): seen by cameras, never collides."""

    model_config = ConfigDict(frozen=True)

    xy: tuple[float, float]
    radius: float = Field(gt=0)
    color: str


class PuckParams(BaseModel):
    """The pushed object: a cylinder sliding on the table (x/y slide joints)."""

    model_config = ConfigDict(frozen=True)

    xy: tuple[float, float]
    radius: float = Field(gt=0)
    mass: float = Field(description="kg; validation rejects non-positive or absurd values")
    friction: float = Field(description="sliding friction of the puck against the fingertip")
    table_friction: float = Field(description="frictionloss on the slide joints (N)")
    color: str


class SceneParams(BaseModel):
    """Everything that defines one scene; ``build_mjcf`` is a pure function of it."""

    model_config = ConfigDict(frozen=True)

    family: str
    seed: int
    link_lengths: list[float]
    link_mass: float
    joint_damping: float
    kp: float = Field(description="position-actuator stiffness (N·m/rad)")
    timestep: float
    init_qpos: list[float]
    joint_limit: float = Field(description="|q| bound for every joint except the shoulder (rad)")
    goal: Marker
    puck: PuckParams | None = None
    distractors: list[Marker] = Field(default_factory=list)
    success_radius: float
    instruction: str

    @property
    def n_joints(self) -> int:
        return len(self.link_lengths)

    @property
    def reach(self) -> float:
        return float(sum(self.link_lengths))


@dataclass(frozen=True)
class SceneFamily:
    """A scene generator: ``sample(rng, seed)`` draws parameters; the rest is shared."""

    name: str
    description: str
    n_joints: int
    max_steps: int
    sample: Callable[[np.random.Generator, int], SceneParams]


FAMILIES: Registry[SceneFamily] = Registry("scene family", decorator="FAMILIES.add")


def family_rng(family: str, seed: int) -> np.random.Generator:
    """A generator keyed by family and seed, so reach seed 3 and push seed 3 are unrelated."""
    if seed < 0:
        raise ConfigError(f"scene seed must be ≥ 0, got {seed}", hint="use a non-negative seed")
    return np.random.default_rng([zlib.crc32(family.encode()), seed])


def generate_params(family: str, seed: int) -> SceneParams:
    spec = FAMILIES.get(family)
    return spec.sample(family_rng(family, seed), seed)


def generate_scene(family: str, seed: int) -> tuple[SceneParams, str]:
    params = generate_params(family, seed)
    return params, build_mjcf(params)


def tip_position(link_lengths: list[float], qpos: np.ndarray) -> np.ndarray:
    """Planar forward kinematics of the fingertip (also used by the safety filter)."""
    angles = np.cumsum(np.asarray(qpos, dtype=np.float64))
    lengths = np.asarray(link_lengths)
    return np.array([np.sum(lengths * np.cos(angles)), np.sum(lengths * np.sin(angles))])


def _polar(rng: np.random.Generator, r_lo: float, r_hi: float, max_angle: float) -> np.ndarray:
    radius = rng.uniform(r_lo, r_hi)
    angle = rng.uniform(-max_angle, max_angle)
    return np.array([radius * math.cos(angle), radius * math.sin(angle)])


def _arm(rng: np.random.Generator, n_joints: int) -> dict[str, object]:
    lengths = [round(float(rng.uniform(0.17, 0.23)), 4) for _ in range(n_joints)]
    for _attempt in range(100):  # start well inside the safety filter's workspace
        init = [float(rng.uniform(-1.0, 1.0))] + [
            float(rng.uniform(-1.2, 1.2)) for _ in range(n_joints - 1)
        ]
        if 0.15 < np.linalg.norm(tip_position(lengths, np.asarray(init))) < 0.55:
            break
    return {
        "link_lengths": lengths,
        "link_mass": round(float(rng.uniform(0.08, 0.2)), 4),
        "joint_damping": round(float(rng.uniform(0.05, 0.3)), 4),
        "kp": round(float(rng.uniform(8.0, 15.0)), 3),
        "timestep": 0.005,
        "init_qpos": [round(q, 4) for q in init],
        "joint_limit": 2.6,
    }


def _distractors(
    rng: np.random.Generator, reach: float, avoid: list[np.ndarray], used: set[str]
) -> list[Marker]:
    count = int(rng.integers(0, 3))
    free = [c for c in COLORS if c not in used]
    out: list[Marker] = []
    for _ in range(count):
        for _attempt in range(50):
            xy = _polar(rng, 0.3 * reach, 0.85 * reach, 2.6)
            if all(np.linalg.norm(xy - p) > 0.12 for p in avoid):
                color = free.pop(int(rng.integers(0, len(free))))
                out.append(Marker(xy=_xy(xy), radius=0.025, color=color))
                avoid.append(xy)
                break
    return out


def _xy(point: np.ndarray) -> tuple[float, float]:
    return (round(float(point[0]), 4), round(float(point[1]), 4))


def _sample_reach(rng: np.random.Generator, seed: int) -> SceneParams:
    arm = _arm(rng, 3)
    lengths: list[float] = arm["link_lengths"]  # type: ignore[assignment]
    reach = sum(lengths)
    tip = tip_position(lengths, np.asarray(arm["init_qpos"]))
    for _attempt in range(100):
        goal_xy = _polar(rng, 0.3 * reach, 0.85 * reach, 2.6)
        if np.linalg.norm(goal_xy - tip) > 0.15:  # never start solved
            break
    color = list(COLORS)[int(rng.integers(0, len(COLORS)))]
    goal = Marker(xy=_xy(goal_xy), radius=0.03, color=color)
    distractors = _distractors(rng, reach, [goal_xy, tip], {color})
    return SceneParams(
        family="reach",
        seed=seed,
        goal=goal,
        distractors=distractors,
        success_radius=0.03,
        instruction=f"reach the {color} ball",
        **arm,  # type: ignore[arg-type]
    )


def _sample_push(rng: np.random.Generator, seed: int) -> SceneParams:
    arm = _arm(rng, 3)
    lengths: list[float] = arm["link_lengths"]  # type: ignore[assignment]
    reach = sum(lengths)
    init = np.asarray(arm["init_qpos"])
    # Puck placement: far enough from every link that the scene starts without contact.
    joints = _joint_points(lengths, init)
    radius = round(float(rng.uniform(0.03, 0.045)), 4)
    for _attempt in range(200):
        puck_xy = _polar(rng, 0.4 * reach, 0.65 * reach, 2.2)
        clearance = min(_segment_distance(puck_xy, a, b) for a, b in pairwise(joints))
        if clearance > radius + LINK_RADIUS + 0.03:
            break
    else:  # pragma: no cover - the workspace is large enough for this never to happen
        raise ConfigError(f"push seed {seed}: no contact-free puck position found")
    for _attempt in range(200):
        direction = rng.uniform(-math.pi, math.pi)
        distance = rng.uniform(0.1, 0.2)
        goal_xy = puck_xy + distance * np.array([math.cos(direction), math.sin(direction)])
        if 0.35 * reach < np.linalg.norm(goal_xy) < 0.75 * reach:
            break
    colors = list(COLORS)
    puck_color = colors.pop(int(rng.integers(0, len(colors))))
    goal_color = colors.pop(int(rng.integers(0, len(colors))))
    puck = PuckParams(
        xy=_xy(puck_xy),
        radius=radius,
        mass=round(float(rng.uniform(0.05, 0.3)), 4),
        friction=round(float(rng.uniform(0.3, 1.0)), 3),
        table_friction=round(float(rng.uniform(0.02, 0.1)), 4),
        color=puck_color,
    )
    goal = Marker(xy=_xy(goal_xy), radius=0.04, color=goal_color)
    distractors = _distractors(rng, reach, [goal_xy, puck_xy], {puck_color, goal_color})
    return SceneParams(
        family="push",
        seed=seed,
        goal=goal,
        puck=puck,
        distractors=distractors,
        success_radius=0.04,
        instruction=f"push the {puck_color} puck to the {goal_color} goal",
        **arm,  # type: ignore[arg-type]
    )


def pairwise(points: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    return list(itertools.pairwise(points))


def _joint_points(lengths: list[float], qpos: np.ndarray) -> list[np.ndarray]:
    points = [np.zeros(2)]
    for index in range(len(lengths)):
        points.append(tip_position(lengths[: index + 1], qpos[: index + 1]))
    return points


def _segment_distance(point: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    ab = b - a
    t = float(np.clip(np.dot(point - a, ab) / max(float(np.dot(ab, ab)), 1e-12), 0.0, 1.0))
    return float(np.linalg.norm(point - (a + t * ab)))


FAMILIES.add(
    "reach",
    SceneFamily(
        name="reach",
        description="3-DoF planar arm moves its fingertip onto a coloured ball",
        n_joints=3,
        max_steps=80,
        sample=_sample_reach,
    ),
)
FAMILIES.add(
    "push",
    SceneFamily(
        name="push",
        description="3-DoF planar arm pushes a sliding puck onto a goal",
        n_joints=3,
        max_steps=200,
        sample=_sample_push,
    ),
)


def _rgba(color: str, alpha: float = 1.0) -> str:
    try:
        r, g, b = COLORS[color]
    except KeyError:
        raise ConfigError(
            f"unknown colour {color!r}", hint=f"use one of {', '.join(COLORS)}"
        ) from None
    return f"{r} {g} {b} {alpha}"


def build_mjcf(params: SceneParams) -> str:
    """Render ``params`` as MJCF text (deterministic: same params → same bytes)."""
    arm_body = _arm_xml(params)
    markers = "\n".join(
        f'    <site name="distractor{i}" type="sphere" size="{m.radius}" '
        f'pos="{m.xy[0]} {m.xy[1]} {MARKER_Z}" rgba="{_rgba(m.color)}"/>'
        for i, m in enumerate(params.distractors)
    )
    goal = params.goal
    puck = _puck_xml(params.puck) if params.puck is not None else ""
    actuators = "\n".join(
        f'    <position name="act{i}" joint="joint{i}" kp="{params.kp}" dampratio="1" '
        f'ctrlrange="{-_limit(params, i)} {_limit(params, i)}" '
        f'forcerange="-{params.kp * 0.5} {params.kp * 0.5}"/>'
        for i in range(params.n_joints)
    )
    # The initial pose lives in the MJCF (keyframe 0), so validation checks the pose that
    # episodes really start from. The arm's joints come first in qpos, then the puck's slides.
    ctrl = " ".join(str(q) for q in params.init_qpos)
    qpos = ctrl + (" 0 0" if params.puck is not None else "")
    return f"""<mujoco model="{params.family}-{params.seed}">
  <compiler angle="radian"/>
  <option timestep="{params.timestep}" integrator="implicitfast"/>
  <visual><quality shadowsize="0"/><global offwidth="640" offheight="480"/></visual>
  <default>
    <joint armature="0.01" damping="{params.joint_damping}" limited="true"/>
    <geom contype="1" conaffinity="1" condim="3"/>
  </default>
  <worldbody>
    <light name="sun" pos="0 0 2" dir="0 0 -1" directional="true" castshadow="false"/>
    <camera name="top" pos="0 0 1.6" fovy="45"/>
    <camera name="view" pos="0 -1.1 1.1" xyaxes="1 0 0 0 0.7 0.7" fovy="45"/>
    <geom name="table" type="plane" size="1 1 0.05" rgba="0.55 0.55 0.5 1" contype="0" conaffinity="0"/>
    <geom name="base" type="cylinder" size="0.04 {ARM_Z / 2}" pos="0 0 {ARM_Z / 2}" rgba="0.2 0.2 0.2 1" contype="0" conaffinity="0"/>
    <site name="goal" type="sphere" size="{goal.radius}" pos="{goal.xy[0]} {goal.xy[1]} {MARKER_Z}" rgba="{_rgba(goal.color, 0.6)}"/>
{markers}
{arm_body}
{puck}
  </worldbody>
  <actuator>
{actuators}
  </actuator>
  <keyframe>
    <key name="init" qpos="{qpos}" ctrl="{ctrl}"/>
  </keyframe>
</mujoco>
"""


def _limit(params: SceneParams, joint: int) -> float:
    return 3.0 if joint == 0 else params.joint_limit


def _arm_xml(params: SceneParams) -> str:
    lines: list[str] = []
    indent = "    "
    for i, length in enumerate(params.link_lengths):
        pos = f"0 0 {ARM_Z}" if i == 0 else f"{params.link_lengths[i - 1]} 0 0"
        lim = _limit(params, i)
        lines.append(f'{indent}<body name="link{i}" pos="{pos}">')
        lines.append(
            f'{indent}  <joint name="joint{i}" type="hinge" axis="0 0 1" range="{-lim} {lim}"/>'
        )
        # Links only collide with each other; the fingertip alone touches the puck.
        contact = ' contype="2" conaffinity="2"'
        lines.append(
            f'{indent}  <geom name="link{i}_geom" type="capsule" fromto="0 0 0 {length} 0 0" '
            f'size="{LINK_RADIUS}" mass="{params.link_mass}" rgba="0.8 0.6 0.3 1"{contact}/>'
        )
        indent += "  "
    tip = params.link_lengths[-1]
    lines.append(
        f'{indent}<geom name="fingertip_geom" type="sphere" size="{TIP_RADIUS}" pos="{tip} 0 0" '
        f'mass="0.01" rgba="0.9 0.9 0.9 1"/>'
    )
    lines.append(f'{indent}<site name="fingertip" pos="{tip} 0 0" size="0.005"/>')
    for _ in params.link_lengths:
        indent = indent[:-2]
        lines.append(f"{indent}</body>")
    return "\n".join(lines)


def _puck_xml(puck: PuckParams) -> str:
    return f"""    <body name="puck" pos="{puck.xy[0]} {puck.xy[1]} {ARM_Z}">
      <joint name="puck_x" type="slide" axis="1 0 0" limited="false" damping="0.05" frictionloss="{puck.table_friction}"/>
      <joint name="puck_y" type="slide" axis="0 1 0" limited="false" damping="0.05" frictionloss="{puck.table_friction}"/>
      <geom name="puck_geom" type="cylinder" size="{puck.radius} 0.02" mass="{puck.mass}" friction="{puck.friction} 0.005 0.0001" rgba="{_rgba(puck.color)}"/>
    </body>"""
