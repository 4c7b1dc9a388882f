"""The technique contract itself, exercised with a test-only technique."""

from pathlib import Path

import pytest
from pydantic import Field

from embodied_ai_architect.agents.optimization.base import (
    TECHNIQUES,
    TechniqueConfig,
    TechniqueContext,
    TechniqueFamily,
    TechniqueManifest,
    TechniqueResult,
    apply_technique,
    load_techniques,
    register_technique,
)
from embodied_ai_architect.agents.optimization.fields import searched_flag
from embodied_ai_architect.agents.optimization.torch_helpers import source_and_clone
from embodied_ai_architect.errors import ConfigError, DependencyError, TechniqueError
from embodied_ai_architect.modelio.handle import Framework, ModelHandle
from embodied_ai_architect.modelio.torch_io import handle_from_module
from embodied_ai_architect.testing.models import MLPPolicy


class ScaleConfig(TechniqueConfig):
    factor: float = Field(
        default=0.5, gt=0, le=1, description="Scale.", json_schema_extra={"search": [0.25, 0.5]}
    )


def _manifest(**overrides: object) -> TechniqueManifest:
    base: dict[str, object] = {
        "family": TechniqueFamily.COMPRESSION,
        "description": "test-only",
        "input_frameworks": [Framework.TORCH],
        "output_framework": Framework.TORCH,
        "runtime": "torch",
    }
    base.update(overrides)
    return TechniqueManifest.model_validate(base)


@pytest.fixture(autouse=True)
def _scoped_registrations():  # type: ignore[no-untyped-def]
    """Test-only techniques must not leak into other tests (the planner would schedule them)."""
    added: list[str] = []
    yield added
    for name in added:
        TECHNIQUES.remove(name)


@pytest.fixture
def register(_scoped_registrations: list[str]):  # type: ignore[no-untyped-def]
    def _register(name: str, apply, **manifest: object) -> None:  # type: ignore[no-untyped-def]
        # Each registration names itself on its config type (a subclass per test technique).
        config_type = type(f"{name}_config", (ScaleConfig,), {"technique": name})
        register_technique(config_type, _manifest(**manifest))(apply)
        _scoped_registrations.append(name)

    return _register


def _ok(handle: ModelHandle, config: ScaleConfig, ctx: TechniqueContext) -> TechniqueResult:
    ctx.emit(50, "halfway")
    return TechniqueResult(handle=handle, changes=[f"scaled by {config.factor}"])


def _boom(handle: ModelHandle, config: ScaleConfig, ctx: TechniqueContext) -> TechniqueResult:
    raise RuntimeError("kernel exploded")


@pytest.fixture
def ctx(tmp_path: Path) -> TechniqueContext:
    events: list[object] = []
    context = TechniqueContext(workdir=tmp_path, sink=events.append)
    context.extras["events"] = events
    return context


def test_config_validation_search_space_and_progress(ctx: TechniqueContext, register) -> None:  # type: ignore[no-untyped-def]
    register("test_scale", _ok)
    handle = handle_from_module(MLPPolicy(obs_dim=4, act_dim=2, hidden=8, depth=1))
    result = apply_technique("test_scale", handle, ctx, {"factor": 0.25})
    assert result.changes == ["scaled by 0.25"]
    assert [e.percent for e in ctx.extras["events"]] == [0, 50, 100]  # type: ignore[attr-defined]
    assert ScaleConfig.search_space() == {"factor": [0.25, 0.5]}
    with pytest.raises(ConfigError, match="factor"):
        apply_technique("test_scale", handle, ctx, {"factor": 1.5})
    with pytest.raises(ConfigError, match="Extra inputs"):
        apply_technique("test_scale", handle, ctx, {"fatcor": 0.5})


def test_failure_inside_becomes_technique_error(ctx: TechniqueContext, register) -> None:  # type: ignore[no-untyped-def]
    register("test_boom", _boom)
    handle = handle_from_module(MLPPolicy(obs_dim=4, act_dim=2, hidden=8, depth=1))
    with pytest.raises(TechniqueError, match="kernel exploded") as info:
        apply_technique("test_boom", handle, ctx)
    assert info.value.details["config"] == {"version": 1, "factor": 0.5}


def test_unavailable_and_wrong_framework_fail_before_running(
    ctx: TechniqueContext, register
) -> None:  # type: ignore[no-untyped-def]
    register("test_needs_pkg", _boom, requires=["no_such_package_xyz"], extra="xyz")
    handle = handle_from_module(MLPPolicy(obs_dim=4, act_dim=2, hidden=8, depth=1))
    with pytest.raises(DependencyError, match="no_such_package_xyz"):
        apply_technique("test_needs_pkg", handle, ctx)
    register("test_onnx_only", _boom, input_frameworks=[Framework.ONNX])
    with pytest.raises(ConfigError, match="export the model first"):
        apply_technique("test_onnx_only", handle, ctx)


def test_unknown_technique_lists_available() -> None:
    with pytest.raises(ConfigError, match="unknown technique 'nope'; available:"):
        apply_technique("nope", None, TechniqueContext(workdir=Path(".")))  # type: ignore[arg-type]


def test_registrations_do_not_leak() -> None:
    assert not [name for name in TECHNIQUES.names() if name.startswith("test_")]


def test_a_config_without_a_technique_name_cannot_register() -> None:
    with pytest.raises(ConfigError, match="names no technique"):
        register_technique(ScaleConfig, _manifest())(_ok)


def test_every_registered_name_is_written_on_its_config_type() -> None:
    for name, spec in load_techniques().items():
        assert spec.config_type.technique == name


def test_a_flag_field_searches_both_values_default_first() -> None:
    class FlagsConfig(TechniqueConfig):
        fast: bool = searched_flag(True, description="Fast path.")
        exact: bool = searched_flag(False, description="Exact path.")

    assert FlagsConfig.search_space() == {"fast": [True, False], "exact": [False, True]}
    assert (FlagsConfig().fast, FlagsConfig().exact) == (True, False)


def test_an_onnxruntime_rewrite_takes_onnx_unless_told_otherwise() -> None:
    threads = TechniqueManifest.onnxruntime_rewrite(TechniqueFamily.RUNTIME, "threads")
    assert threads.input_frameworks == [Framework.ONNX]
    assert (threads.output_framework, threads.runtime, threads.requires) == (
        Framework.ONNX,
        "onnxruntime",
        ["onnxruntime"],
    )
    graph = TechniqueManifest.onnxruntime_rewrite(
        TechniqueFamily.COMPRESSION, "graph", input_frameworks=[Framework.ONNX, Framework.TORCH]
    )
    assert graph.input_frameworks == [Framework.ONNX, Framework.TORCH]


def test_source_and_clone_leaves_the_callers_model_alone() -> None:
    import torch

    handle = handle_from_module(MLPPolicy(obs_dim=4, act_dim=2, hidden=8, depth=1))
    handle.module.train()
    source, module = source_and_clone(handle, "test_technique")
    assert source is handle and module is not handle.module
    assert not module.training and handle.module.training  # the copy is in eval mode
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.zero_()
    assert any(bool(p.abs().sum() > 0) for p in handle.module.parameters())
