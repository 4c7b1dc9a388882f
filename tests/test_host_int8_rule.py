"""The one INT8 kernel rule (utils.host): 7-bit weights exactly where u8×s8 kernels saturate."""

from __future__ import annotations

import numpy as np
import pytest

from embodied_ai_architect.utils.host import dynamic_reduce_range, needs_reduce_range


def test_reduce_range_follows_the_dot_product_flags() -> None:
    assert needs_reduce_range({"avx2", "fma"}, machine="x86_64")
    assert not needs_reduce_range({"avx2", "avx512_vnni"}, machine="x86_64")
    assert not needs_reduce_range({"avx2", "avx_vnni"}, machine="x86_64")
    assert not needs_reduce_range(set(), machine="aarch64")  # ARM kernels do not saturate


def test_dynamic_reduce_range_is_the_host_rule_unless_asked() -> None:
    assert dynamic_reduce_range(True) is True and dynamic_reduce_range(False) is False
    assert dynamic_reduce_range(None) == needs_reduce_range()
    assert dynamic_reduce_range(None, weight_type="uint8") is False


def test_dynamic_int8_stays_faithful_on_this_cpu(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The regression behind the rule: int8 weights on AVX2 without VNNI were 11-16 % off."""
    import torch

    from embodied_ai_architect.agents.optimization.base import TechniqueContext, apply_technique
    from embodied_ai_architect.modelio.export import export_onnx
    from embodied_ai_architect.modelio.torch_io import handle_from_module
    from embodied_ai_architect.testing.models import MLPPolicy

    torch.manual_seed(0)
    module = MLPPolicy(obs_dim=8, act_dim=2, hidden=32, depth=2)
    onnx = export_onnx(handle_from_module(module, name="mlp"), tmp_path / "mlp.onnx")
    result = apply_technique("ort_int8_dynamic", onnx, TechniqueContext(workdir=tmp_path), {})
    x = np.random.default_rng(0).standard_normal((16, 8)).astype(np.float32)
    name = onnx.inputs[0].name
    want = np.concatenate([next(iter(onnx.run({name: x[i : i + 1]}).values())) for i in range(16)])
    got = np.concatenate(
        [next(iter(result.handle.run({name: x[i : i + 1]}).values())) for i in range(16)]
    )
    assert np.linalg.norm(got - want) / np.linalg.norm(want) < 0.05
    assert any("reduce_range" in c for c in result.changes) == needs_reduce_range()


@pytest.mark.parametrize("requested", [True, False])
def test_an_explicit_choice_is_kept(requested: bool) -> None:
    assert dynamic_reduce_range(requested, weight_type="uint8") is requested
