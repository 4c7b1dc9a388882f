"""Scene validation: a generated scene is used only after every check below has passed.

Checks, in order (the first two are fatal: later checks need a compiled model):

1. ``xml_parse``        the text is well-formed XML with a ``<mujoco>`` root;
2. ``compile``          MuJoCo compiles it;
3. ``schema``           the family's bodies / joints / actuators / sites exist, ranges are sane;
4. ``actuator_range``   every actuator is control- and force-limited, within its joint's range;
5. ``interpenetration`` no contact at reset is deeper than ``max_penetration``;
6. ``unstable``         a few hundred steps of random in-range controls keep qpos/qvel/qacc
                        finite and bounded and raise no MuJoCo warning (bad qacc, full buffers).

Example:
    >>> report = validate_mjcf(xml, family="reach")
    >>> require_valid(report)  # raises SimulationError with the reasons when invalid
"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from embodied_ai_architect.errors import SimulationError, first_line

if TYPE_CHECKING:
    import mujoco

IssueCode = Literal[
    "xml_parse", "compile", "schema", "actuator_range", "interpenetration", "unstable"
]
CHECKS: tuple[IssueCode, ...] = (
    "xml_parse",
    "compile",
    "schema",
    "actuator_range",
    "interpenetration",
    "unstable",
)


class ValidationIssue(BaseModel):
    code: IssueCode
    message: str


class SceneValidation(BaseModel):
    """The outcome of validating one scene (``ok`` only when ``issues`` is empty)."""

    family: str | None = None
    seed: int | None = None
    xml_sha256: str
    issues: list[ValidationIssue] = Field(default_factory=list)
    checks_run: list[IssueCode] = Field(default_factory=list)
    max_penetration: float = 0.0
    max_abs_qvel: float = 0.0
    steps_run: int = 0

    @property
    def ok(self) -> bool:
        return not self.issues

    @property
    def codes(self) -> list[str]:
        return [issue.code for issue in self.issues]

    def summary(self) -> str:
        if self.ok:
            return "valid"
        return "; ".join(f"{i.code}: {i.message}" for i in self.issues)


def xml_hash(xml: str) -> str:
    return hashlib.sha256(xml.encode()).hexdigest()


def required_names(family: str | None, n_joints: int | None) -> dict[str, list[str]]:
    """Names a scene of ``family`` must define (empty for unknown / custom scenes)."""
    if family not in ("reach", "push") or n_joints is None:
        return {}
    names = {
        "body": [f"link{i}" for i in range(n_joints)],
        "joint": [f"joint{i}" for i in range(n_joints)],
        "actuator": [f"act{i}" for i in range(n_joints)],
        "site": ["fingertip", "goal"],
    }
    if family == "push":
        names["body"].append("puck")
        names["joint"] += ["puck_x", "puck_y"]
    return names


def validate_mjcf(
    xml: str,
    *,
    family: str | None = None,
    seed: int | None = None,
    n_joints: int | None = 3,
    stability_steps: int = 300,
    max_penetration: float = 1e-4,
    max_qvel: float = 100.0,
    rng_seed: int = 0,
) -> SceneValidation:
    """Run every check on ``xml``; never raises for a bad scene (see :func:`require_valid`)."""
    import mujoco

    report = SceneValidation(family=family, seed=seed, xml_sha256=xml_hash(xml))

    def fail(code: IssueCode, message: str) -> None:
        report.issues.append(ValidationIssue(code=code, message=message))

    report.checks_run.append("xml_parse")
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        fail("xml_parse", f"not well-formed XML: {exc}")
        return report
    if root.tag != "mujoco":
        fail("xml_parse", f"root element is <{root.tag}>, expected <mujoco>")
        return report

    report.checks_run.append("compile")
    try:
        model = mujoco.MjModel.from_xml_string(xml)
    except ValueError as exc:
        fail("compile", f"MuJoCo cannot compile the scene: {first_line(exc)}")
        return report
    data = mujoco.MjData(model)

    report.checks_run.append("schema")
    for message in _schema_problems(model, required_names(family, n_joints)):
        fail("schema", message)
    report.checks_run.append("actuator_range")
    for message in _actuator_problems(model):
        fail("actuator_range", message)

    report.checks_run.append("interpenetration")
    if model.nkey > 0:  # scenes start from keyframe 0: check that pose, not the zero pose
        mujoco.mj_resetDataKeyframe(model, data, 0)
    mujoco.mj_forward(model, data)
    depth, pairs = _penetration(model, data)
    report.max_penetration = depth
    if depth > max_penetration:
        fail(
            "interpenetration",
            f"bodies overlap at reset by {depth * 1000:.1f} mm ({', '.join(pairs)}); "
            f"allowed {max_penetration * 1000:.2f} mm",
        )

    if report.codes and "schema" in report.codes:
        return report  # a scene missing its parts is not worth simulating
    report.checks_run.append("unstable")
    problem = _stability_problem(model, data, stability_steps, max_qvel, rng_seed, report)
    if problem:
        fail("unstable", problem)
    return report


def require_valid(report: SceneValidation) -> None:
    """Raise SimulationError naming every failed check; a no-op for a valid scene."""
    if report.ok:
        return
    where = f"{report.family} seed {report.seed}" if report.family else "scene"
    raise SimulationError(
        f"{where} is invalid: {report.summary()}",
        hint="invalid scenes never reach an evaluation; fix the generator parameters or pick "
        "another seed (`branes sim validate` lists the reasons per seed)",
        details={
            "issues": [i.model_dump() for i in report.issues],
            "xml_sha256": report.xml_sha256,
        },
    )


def _names(model: mujoco.MjModel, obj: Any, count: int) -> set[str]:
    import mujoco

    return {mujoco.mj_id2name(model, obj, i) or "" for i in range(count)}


def _schema_problems(model: mujoco.MjModel, required: dict[str, list[str]]) -> list[str]:
    import mujoco

    problems: list[str] = []
    present = {
        "body": _names(model, mujoco.mjtObj.mjOBJ_BODY, model.nbody),
        "joint": _names(model, mujoco.mjtObj.mjOBJ_JOINT, model.njnt),
        "actuator": _names(model, mujoco.mjtObj.mjOBJ_ACTUATOR, model.nu),
        "site": _names(model, mujoco.mjtObj.mjOBJ_SITE, model.nsite),
    }
    for kind, names in required.items():
        missing = [n for n in names if n not in present[kind]]
        if missing:
            problems.append(f"missing {kind}(s): {', '.join(missing)}")
    if not 0 < model.opt.timestep <= 0.02:
        problems.append(f"timestep {model.opt.timestep} s is outside (0, 0.02]")
    if model.nu == 0:
        problems.append("the scene has no actuators; a policy could not act")
    for j in range(model.njnt):
        if model.jnt_limited[j]:
            lo, hi = model.jnt_range[j]
            if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
                name = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_JOINT, j)
                problems.append(f"joint {name!r} has an empty or non-finite range [{lo}, {hi}]")
    return problems


def _actuator_problems(model: mujoco.MjModel) -> list[str]:
    import mujoco

    problems: list[str] = []
    for a in range(model.nu):
        name = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_ACTUATOR, a) or f"#{a}"
        lo, hi = model.actuator_ctrlrange[a]
        if not model.actuator_ctrllimited[a]:
            problems.append(f"actuator {name!r} has no ctrlrange (unbounded commands)")
        elif not lo < hi:
            problems.append(f"actuator {name!r} has an empty ctrlrange [{lo}, {hi}]")
        if not model.actuator_forcelimited[a]:
            problems.append(f"actuator {name!r} has no forcerange (unbounded torque)")
        joint = int(model.actuator_trnid[a, 0])
        is_joint = model.actuator_trntype[a] == mujoco.mjtTrn.mjTRN_JOINT
        if is_joint and model.actuator_ctrllimited[a] and model.jnt_limited[joint]:
            jlo, jhi = model.jnt_range[joint]
            if lo < jlo - 1e-6 or hi > jhi + 1e-6:
                problems.append(
                    f"actuator {name!r} ctrlrange [{lo:g}, {hi:g}] exceeds its joint's range "
                    f"[{jlo:g}, {jhi:g}]"
                )
    return problems


def _penetration(model: mujoco.MjModel, data: mujoco.MjData) -> tuple[float, list[str]]:
    import mujoco

    deepest = 0.0
    pairs: list[str] = []
    for i in range(data.ncon):
        contact = data.contact[i]
        if contact.dist < 0:
            deepest = max(deepest, -float(contact.dist))
            g1 = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_GEOM, contact.geom1) or "?"
            g2 = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_GEOM, contact.geom2) or "?"
            pairs.append(f"{g1}/{g2} {-contact.dist * 1000:.1f} mm")
    return deepest, pairs


_WARNINGS = (
    "mjWARN_BADQACC",
    "mjWARN_BADQVEL",
    "mjWARN_BADQPOS",
    "mjWARN_BADCTRL",
    "mjWARN_CONTACTFULL",
    "mjWARN_CNSTRFULL",
    "mjWARN_INERTIA",
)


def _stability_problem(
    model: mujoco.MjModel,
    data: mujoco.MjData,
    steps: int,
    max_qvel: float,
    rng_seed: int,
    report: SceneValidation,
) -> str | None:
    import mujoco

    rng = np.random.default_rng(rng_seed)
    lo, hi = model.actuator_ctrlrange[:, 0], model.actuator_ctrlrange[:, 1]
    finite_range = np.isfinite(lo) & np.isfinite(hi) & (lo < hi)
    for step in range(steps):
        if step % 10 == 0:  # hold each random command a little, like a slow policy would
            data.ctrl[:] = np.where(finite_range, rng.uniform(lo, hi), 0.0)
        mujoco.mj_step(model, data)
        report.steps_run = step + 1
        for state, name in ((data.qpos, "qpos"), (data.qvel, "qvel"), (data.qacc, "qacc")):
            if not np.all(np.isfinite(state)):
                return f"{name} became non-finite after {step + 1} steps"
        speed = float(np.max(np.abs(data.qvel))) if model.nv else 0.0
        report.max_abs_qvel = max(report.max_abs_qvel, speed)
        if speed > max_qvel:
            return (
                f"|qvel| reached {speed:.3g} after {step + 1} steps (bound {max_qvel:g}); "
                "masses too small or gains / timestep too large"
            )
        raised = [
            w.removeprefix("mjWARN_")
            for w in _WARNINGS
            if data.warning[int(getattr(mujoco.mjtWarning, w))].number > 0
        ]
        if raised:
            return f"MuJoCo warned {', '.join(raised)} after {step + 1} steps"
    return None
