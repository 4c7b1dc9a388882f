"""Target registry contract: entry points, duplicates, lookups, and a test per target."""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

import pytest

from embodied_ai_architect.agents.deployment.targets import (
    TARGETS,
    DeploymentTarget,
    get_target,
    list_targets,
    load_targets,
    register_target,
)
from embodied_ai_architect.errors import ConfigError
from embodied_ai_architect.schemas.deployment import DeploymentPrecision

BUILT_IN = {"onnxruntime", "jetson", "openvino", "tflite"}


def test_built_in_targets_load_through_entry_points() -> None:
    declared = {e.name for e in entry_points(group="embodied_ai_architect.targets")}
    assert declared >= BUILT_IN
    assert set(load_targets().names()) >= BUILT_IN


@pytest.mark.parametrize("name", sorted(BUILT_IN))
def test_every_target_honours_the_contract(name: str) -> None:
    target = get_target(name)
    assert isinstance(target, DeploymentTarget) and target.name == name and target.description
    ok, reason = target.is_available()
    assert isinstance(ok, bool) and reason
    caps = target.get_capabilities()
    assert caps.precisions and caps.formats and caps.devices and caps.verified
    if DeploymentPrecision.INT8 in caps.precisions:
        assert caps.int8_modes
    assert type(caps).model_validate(caps.model_dump()) == caps


def test_every_target_has_its_own_test_file() -> None:
    here = Path(__file__).parent
    missing = [
        name for name in load_targets().names() if not (here / f"test_{name}_target.py").exists()
    ]
    assert not missing, f"targets without tests: {missing}"


def test_duplicates_are_refused_and_unknown_names_listed() -> None:
    load_targets()
    with pytest.raises(ConfigError, match="already registered"):
        register_target("onnxruntime")(type(get_target("onnxruntime")))
    with pytest.raises(ConfigError, match="available: jetson, onnxruntime, openvino, tflite"):
        get_target("jetsn")
    assert "jetsn" not in TARGETS


def test_list_targets_reports_this_host_truthfully() -> None:
    statuses = {s.name: s for s in list_targets()}
    assert statuses["onnxruntime"].available
    assert not statuses["jetson"].available  # no TensorRT, no CUDA on these hosts
    assert "tensorrt" in statuses["jetson"].reason
