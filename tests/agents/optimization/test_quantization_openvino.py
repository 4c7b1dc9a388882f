"""openvino_ir and openvino_int8 on the digits CNN: IR runs, INT8 shrinks and keeps top-1."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from embodied_ai_architect.agents.optimization.base import TechniqueContext, apply_technique
from embodied_ai_architect.data.calibration import GeneratorProvider
from embodied_ai_architect.errors import ConfigError
from embodied_ai_architect.modelio.handle import Framework
from embodied_ai_architect.modelio.openvino_io import OpenVinoModelHandle
from embodied_ai_architect.modelio.torch_io import handle_from_module
from embodied_ai_architect.testing.digits import train_digits_cnn

pytest.importorskip("openvino")
pytest.importorskip("nncf")


@pytest.fixture(scope="module")
def digits():  # type: ignore[no-untyped-def]
    model, split = train_digits_cnn(epochs=6, seed=1)
    return handle_from_module(model, name="digits"), split


def _top1(handle, x: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
    return next(iter(handle.run({handle.inputs[0].name: x}).values())).argmax(1)


def test_openvino_ir_from_torch_matches(digits, tmp_path: Path) -> None:
    handle, split = digits
    result = apply_technique("openvino_ir", handle, TechniqueContext(workdir=tmp_path), {})
    out = result.handle
    assert isinstance(out, OpenVinoModelHandle) and out.framework is Framework.OPENVINO
    assert out.path is not None and out.path.suffix == ".xml" and out.path.parent == tmp_path
    assert [s.name for s in out.inputs] == [s.name for s in handle.inputs]
    assert (_top1(handle, split.x_test) == _top1(out, split.x_test)).mean() == 1.0


def test_openvino_int8_keeps_top1_and_validates_scope(digits, tmp_path: Path) -> None:
    handle, split = digits
    x = split.x_train
    provider = GeneratorProvider(
        lambda rng: {handle.inputs[0].name: x[rng.integers(len(x)) : None][:1]},
        handle.inputs,
        num_samples=64,
    )
    ctx = TechniqueContext(workdir=tmp_path, calibration=provider)
    with pytest.raises(ConfigError, match="ignored_names"):
        apply_technique("openvino_int8", handle, ctx, {"ignored_names": ["no_such_node"]})
    result = apply_technique("openvino_int8", handle, ctx, {"subset_size": 64})
    agreement = float((_top1(handle, split.x_test) == _top1(result.handle, split.x_test)).mean())
    assert agreement >= 0.98
    assert result.metrics["quantized_nodes"] >= 5
    assert result.metrics["calibration_samples"] == 64
    assert result.metrics["size_after_bytes"] < result.metrics["size_before_bytes"] * 0.6

    with pytest.raises(ConfigError, match="needs calibration data"):
        apply_technique("openvino_int8", handle, TechniqueContext(workdir=tmp_path / "x"), {})
