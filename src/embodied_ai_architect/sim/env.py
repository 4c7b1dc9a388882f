"""The stepping environment: one validated scene, a safety filter, typed observations.

Only :class:`ValidatedScene` objects (made by :func:`make_scene`, which runs every validation
check) can be simulated, so an invalid scene can never reach an evaluation.

Example:
    >>> scene = make_scene("reach", seed=1000)
    >>> with SimEnv(scene) as env:
    ...     obs = env.reset()
    ...     outcome = env.step(np.zeros(3))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING

import numpy as np

from embodied_ai_architect.errors import SimulationError
from embodied_ai_architect.sim.safety import SafetyFilter
from embodied_ai_architect.sim.scenes import FAMILIES, SceneParams, build_mjcf, generate_params
from embodied_ai_architect.sim.schemas import FilteredAction, Observation, SafetyLimits, tokenize
from embodied_ai_architect.sim.validation import SceneValidation, require_valid, validate_mjcf

if TYPE_CHECKING:
    import mujoco

FRAME_SKIP = 10  # physics steps per control step: 0.005 s × 10 = 20 Hz control
QVEL_SCALE = 0.2  # keeps joint velocities O(1) in the state vector


@dataclass(frozen=True)
class ValidatedScene:
    """A scene that passed validation; build it with :func:`make_scene`."""

    params: SceneParams
    xml: str
    report: SceneValidation

    @property
    def family(self) -> str:
        return self.params.family

    @property
    def seed(self) -> int:
        return self.params.seed


def make_scene(family: str, seed: int, *, params: SceneParams | None = None) -> ValidatedScene:
    """Generate (or take ``params``), build the MJCF, validate it; SimulationError if invalid."""
    params = params or generate_params(family, seed)
    xml = build_mjcf(params)
    report = validate_mjcf(xml, family=params.family, seed=params.seed, n_joints=params.n_joints)
    require_valid(report)
    return ValidatedScene(params=params, xml=xml, report=report)


@dataclass
class StepOutcome:
    observation: Observation
    reward: float
    success: bool
    done: bool
    action: FilteredAction
    contacts: list[str] = field(default_factory=list)


class SimEnv:
    """Closed-loop environment over one validated scene.

    Args:
        scene: the output of :func:`make_scene`.
        image_size: render a square top-camera image of this size into each observation
            (``None``: no rendering, state-only policies are much faster).
        limits: safety limits; defaults are the suite's.
        max_steps: episode length limit; defaults to the family's.
    """

    def __init__(
        self,
        scene: ValidatedScene,
        *,
        image_size: int | None = None,
        limits: SafetyLimits | None = None,
        max_steps: int | None = None,
    ) -> None:
        import mujoco

        if not isinstance(scene, ValidatedScene) or not scene.report.ok:
            raise SimulationError(
                "SimEnv only runs validated scenes",
                hint="build scenes with embodied_ai_architect.sim.env.make_scene",
            )
        self.scene = scene
        self.params = scene.params
        self.model = mujoco.MjModel.from_xml_string(scene.xml)
        self.data = mujoco.MjData(self.model)
        self.max_steps = max_steps or FAMILIES.get(self.params.family).max_steps
        self.n_joints = self.params.n_joints
        self._joint_qpos = np.array(
            [self.model.joint(f"joint{i}").qposadr[0] for i in range(self.n_joints)]
        )
        self._joint_dof = np.array(
            [self.model.joint(f"joint{i}").dofadr[0] for i in range(self.n_joints)]
        )
        ranges = np.array([self.model.joint(f"joint{i}").range for i in range(self.n_joints)])
        self.safety = SafetyFilter(limits or SafetyLimits(), self.params.link_lengths, ranges)
        self._tip = self.model.site("fingertip").id
        self._goal = self.model.site("goal").id
        self._puck = self.model.body("puck").id if self.params.puck is not None else None
        self.tokens = tokenize(self.params.instruction)
        self.image_size = image_size
        self._renderer: mujoco.Renderer | None = None
        self.step_count = 0

    # -- lifecycle ---------------------------------------------------------------------------
    def reset(self) -> Observation:
        import mujoco

        mujoco.mj_resetDataKeyframe(self.model, self.data, 0)  # the validated initial pose
        mujoco.mj_forward(self.model, self.data)
        self.step_count = 0
        return self.observe()

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()  # MuJoCo needs an explicit close (EGL context)
            self._renderer = None

    def __enter__(self) -> SimEnv:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- stepping ----------------------------------------------------------------------------
    def step(self, raw_action: np.ndarray) -> StepOutcome:
        import mujoco

        if self.step_count >= self.max_steps:
            raise SimulationError(
                f"episode already ended after {self.max_steps} steps", hint="call reset() first"
            )
        filtered = self.safety.apply(raw_action, self.qpos)
        self.data.ctrl[:] = filtered.target_qpos
        for _ in range(FRAME_SKIP):
            mujoco.mj_step(self.model, self.data)
        if not (np.all(np.isfinite(self.data.qpos)) and np.all(np.isfinite(self.data.qvel))):
            raise SimulationError(
                f"{self.params.family} seed {self.params.seed}: the simulation diverged at step "
                f"{self.step_count}",
                hint="the scene passed validation, so report this with the seed",
            )
        self.step_count += 1
        distance = self.task_distance()
        success = distance < self.params.success_radius
        observation = self.observe()
        return StepOutcome(
            observation=observation,
            reward=-distance,
            success=success,
            done=success or self.step_count >= self.max_steps,
            action=filtered,
            contacts=self.contacts(),
        )

    # -- state -------------------------------------------------------------------------------
    @property
    def qpos(self) -> np.ndarray:
        return np.asarray(self.data.qpos[self._joint_qpos], dtype=np.float64)

    @property
    def qvel(self) -> np.ndarray:
        return np.asarray(self.data.qvel[self._joint_dof], dtype=np.float64)

    @property
    def tip(self) -> np.ndarray:
        return np.asarray(self.data.site_xpos[self._tip][:2], dtype=np.float64)

    @property
    def goal(self) -> np.ndarray:
        return np.asarray(self.data.site_xpos[self._goal][:2], dtype=np.float64)

    @property
    def puck(self) -> np.ndarray | None:
        if self._puck is None:
            return None
        return np.asarray(self.data.xpos[self._puck][:2], dtype=np.float64)

    def task_distance(self) -> float:
        puck = self.puck
        subject = self.tip if puck is None else puck
        return float(np.linalg.norm(self.goal - subject))

    def jacobian(self) -> np.ndarray:
        """2×n planar Jacobian of the fingertip w.r.t. the arm joints."""
        import mujoco

        jacp = np.zeros((3, self.model.nv))
        mujoco.mj_jacSite(self.model, self.data, jacp, None, self._tip)
        return jacp[:2, self._joint_dof]

    def proprio(self) -> np.ndarray:
        # Link lengths are randomized per scene; a robot knows its own kinematics, and without
        # them a policy cannot map a fingertip motion to joint motions.
        q = self.qpos
        lengths = np.asarray(self.params.link_lengths)
        return np.concatenate([np.cos(q), np.sin(q), self.qvel * QVEL_SCALE, self.tip, lengths])

    def state(self) -> np.ndarray:
        tip, goal, puck = self.tip, self.goal, self.puck
        task = [goal, goal - tip] if puck is None else [puck, goal, puck - tip, goal - puck]
        return np.concatenate([self.proprio(), *task])

    def object_keypoints(self, camera: str = "top") -> np.ndarray:
        """Where the instructed objects appear in ``camera``'s image: [n, 2] (x right, y up).

        The order follows the instruction (reach: the ball; push: the puck, then the goal).
        Coordinates are normalized so the (square) image spans [-1, 1] on both axes, the
        convention of ``sim.models.pixel_grid``. Training uses them as privileged supervision: a vision
        policy learns *where the red ball is* directly instead of inferring it from actions.
        """
        import mujoco

        cam = self.model.camera(camera).id
        rotation = self.data.cam_xmat[cam].reshape(3, 3)  # columns: camera x, y, z in world
        position = self.data.cam_xpos[cam]
        tan_half = np.tan(np.radians(self.model.cam_fovy[cam]) / 2)
        points = [self.data.site_xpos[self._goal]]
        if self._puck is not None:
            points.insert(0, self.data.xpos[self._puck])
        local = (np.asarray(points) - position) @ rotation  # camera frame; it looks along -z
        depth = -local[:, 2]
        if np.any(depth <= 0):
            name = mujoco.mj_id2name(self.model, mujoco.mjtObj.mjOBJ_CAMERA, cam)
            raise SimulationError(
                f"an instructed object is behind camera {name!r}",
                hint="the scene family's camera must see the whole table",
            )
        return (local[:, :2] / (depth[:, None] * tan_half)).astype(np.float32)

    def observe(self) -> Observation:
        image = self.render(self.image_size, self.image_size) if self.image_size else None
        return Observation(
            step=self.step_count,
            obs_id=f"{self.params.family}-{self.params.seed}-{self.step_count}",
            state=self.state().astype(np.float32),
            proprio=self.proprio().astype(np.float32),
            instruction=self.params.instruction,
            tokens=self.tokens,
            image=image,
        )

    def contacts(self) -> list[str]:
        import mujoco

        names = []
        for i in range(self.data.ncon):
            contact = self.data.contact[i]
            g1 = mujoco.mj_id2name(self.model, mujoco.mjtObj.mjOBJ_GEOM, contact.geom1)
            g2 = mujoco.mj_id2name(self.model, mujoco.mjtObj.mjOBJ_GEOM, contact.geom2)
            names.append(f"{g1}/{g2}")
        return names

    def render(self, width: int | None, height: int | None, camera: str = "top") -> np.ndarray:
        """An RGB uint8 frame from ``camera`` ('top' feeds policies, 'view' is for people)."""
        import mujoco

        width, height = width or 64, height or 64
        if self._renderer is None or (self._renderer.width, self._renderer.height) != (
            width,
            height,
        ):
            self.close()
            try:
                self._renderer = mujoco.Renderer(self.model, height=height, width=width)
            except Exception as exc:  # EGL / OSMesa set-up failures have many types
                raise SimulationError(
                    f"offscreen rendering is unavailable: {exc}",
                    hint="set MUJOCO_GL=egl (or osmesa with libosmesa6 installed)",
                ) from exc
        self._renderer.update_scene(self.data, camera=camera)
        return np.asarray(self._renderer.render(), dtype=np.uint8)


def make_env(family: str, seed: int, **kwargs: object) -> SimEnv:
    """Shortcut: generate, validate and wrap one scene."""
    return SimEnv(make_scene(family, seed), **kwargs)  # type: ignore[arg-type]


__all__ = ["SimEnv", "StepOutcome", "ValidatedScene", "make_env", "make_scene"]
