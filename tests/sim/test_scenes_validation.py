"""Scene generation is deterministic and every broken scene is rejected with the right reason."""

from __future__ import annotations

import pytest

from embodied_ai_architect.errors import ConfigError, SimulationError
from embodied_ai_architect.sim.env import SimEnv, ValidatedScene, make_scene
from embodied_ai_architect.sim.scenes import build_mjcf, generate_params, generate_scene
from embodied_ai_architect.sim.suites import build_scenes, list_suites, load_suite, manifest_for
from embodied_ai_architect.sim.validation import validate_mjcf


def test_same_seed_same_xml_and_seeds_randomize() -> None:
    a = generate_scene("push", 7)[1]
    assert a == generate_scene("push", 7)[1]
    params = [generate_params("push", s) for s in range(6)]
    assert len({p.puck.mass for p in params if p.puck}) == 6
    assert len({p.joint_damping for p in params}) == 6
    assert len({len(p.distractors) for p in params}) > 1
    assert generate_scene("reach", 7)[1] != generate_scene("push", 7)[1]


@pytest.mark.parametrize("family", ["reach", "push"])
def test_generated_scenes_are_valid(family: str) -> None:
    for seed in range(5):
        report = validate_mjcf(generate_scene(family, seed)[1], family=family, seed=seed)
        assert report.ok, report.summary()
        assert report.steps_run == 300
        assert report.checks_run[-1] == "unstable"


def test_bad_xml_is_rejected() -> None:
    report = validate_mjcf("<mujoco><worldbody>", family="reach")
    assert report.codes == ["xml_parse"]
    assert validate_mjcf("<robot/>", family="reach").codes == ["xml_parse"]


def test_uncompilable_xml_is_rejected() -> None:
    xml = generate_scene("reach", 0)[1].replace('type="capsule"', 'type="capsul"')
    assert validate_mjcf(xml, family="reach").codes == ["compile"]


def test_interpenetrating_puck_is_rejected() -> None:
    params = generate_params("push", 0)
    assert params.puck is not None
    from embodied_ai_architect.sim.scenes import tip_position

    tip = tip_position(params.link_lengths, params.init_qpos)  # puck on top of the fingertip
    moved = params.model_copy(
        update={"puck": params.puck.model_copy(update={"xy": (float(tip[0]), float(tip[1]))})}
    )
    report = validate_mjcf(build_mjcf(moved), family="push")
    assert report.codes == ["interpenetration"]
    assert report.max_penetration > 0.01
    assert "fingertip_geom/puck_geom" in report.issues[0].message or "puck_geom" in (
        report.issues[0].message
    )


def test_unstable_parameters_are_rejected() -> None:
    params = generate_params("reach", 0).model_copy(update={"link_mass": 1e-4, "kp": 1e5})
    report = validate_mjcf(build_mjcf(params), family="reach")
    assert report.codes == ["unstable"]
    with pytest.raises(SimulationError, match="unstable"):
        make_scene("reach", 0, params=params)


def test_missing_parts_and_unbounded_actuators_are_rejected() -> None:
    xml = generate_scene("push", 0)[1]
    assert validate_mjcf(xml.replace('name="goal"', 'name="gaol"'), family="push").codes == [
        "schema"
    ]
    unbounded = xml.replace('ctrlrange="-3.0 3.0" ', "")
    report = validate_mjcf(unbounded, family="push")
    assert report.codes == ["actuator_range"]
    assert "act0" in report.issues[0].message


def test_env_refuses_unvalidated_scene() -> None:
    scene = make_scene("reach", 0)
    bad = ValidatedScene(
        params=scene.params,
        xml=scene.xml,
        report=validate_mjcf("<mujoco><worldbody>", family="reach"),
    )
    with pytest.raises(SimulationError):
        SimEnv(bad)


def test_suites_are_declared_and_manifested() -> None:
    assert {"reach-v0/smoke", "reach-v0/full", "push-v0/smoke", "push-v0/full"} <= set(
        list_suites()
    )
    assert len(load_suite("reach-v0/smoke").seeds) == 20
    assert len(load_suite("push-v0/full").seeds) == 200
    suite = load_suite("push-v0/smoke", limit=3)
    manifest = manifest_for(suite, build_scenes(suite))
    assert [s.seed for s in manifest.scenes] == [1000, 1001, 1002]
    assert manifest.digest == manifest_for(suite, build_scenes(suite)).digest
    with pytest.raises(ConfigError, match="available"):
        load_suite("reach-v9/smoke")
    with pytest.raises(ConfigError, match="no split"):
        load_suite("reach-v0/huge")


def test_suite_splits_cannot_overlap_the_training_seeds() -> None:
    from pydantic import ValidationError

    from embodied_ai_architect.sim.suites import FIRST_SUITE_SEED, SplitSpec

    assert SplitSpec(seed_start=FIRST_SUITE_SEED, count=5).seed_start == 1000
    with pytest.raises(ValidationError, match="greater than or equal to 1000"):
        SplitSpec(seed_start=999, count=5)
