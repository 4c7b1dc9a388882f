"""openvino_ir, openvino_bf16 and openvino_int8 on the digits CNN: IR runs, BF16 computes in BF16
where the CPU has it, INT8 shrinks and keeps top-1."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from embodied_ai_architect.agents.analysis import host
from embodied_ai_architect.agents.analysis.host import openvino_bf16
from embodied_ai_architect.agents.optimization.base import TechniqueContext, apply_technique
from embodied_ai_architect.data.calibration import GeneratorProvider
from embodied_ai_architect.errors import ConfigError, TechniqueError
from embodied_ai_architect.modelio.handle import Framework
from embodied_ai_architect.modelio.openvino_io import OpenVinoModelHandle, load_openvino
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


NATIVE_BF16, NATIVE_BF16_WHY = openvino_bf16()
needs_bf16 = pytest.mark.skipif(not NATIVE_BF16, reason=f"no native BF16: {NATIVE_BF16_WHY}")


def _logits(handle, x: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
    return next(iter(handle.run({handle.inputs[0].name: x}).values()))


@needs_bf16
def test_openvino_bf16_computes_in_bf16_and_the_ir_records_it(digits, tmp_path: Path) -> None:
    handle, split = digits
    result = apply_technique("openvino_bf16", handle, TechniqueContext(workdir=tmp_path), {})
    out = result.handle
    assert isinstance(out, OpenVinoModelHandle) and out.inference_precision == "bf16"
    # The IR itself says how it must be compiled, wherever it is loaded again.
    again = load_openvino(out.xml_path)
    assert again.inference_precision == "bf16"
    ir = apply_technique("openvino_ir", handle, TechniqueContext(workdir=tmp_path / "ir"), {})
    assert isinstance(ir.handle, OpenVinoModelHandle) and ir.handle.inference_precision == "f32"
    fp32, bf16 = _logits(ir.handle, split.x_test), _logits(again, split.x_test)
    assert not np.array_equal(fp32, bf16)  # BF16 arithmetic really ran
    assert np.abs(fp32 - bf16).max() < 0.05 * np.abs(fp32).max()
    assert (fp32.argmax(1) == bf16.argmax(1)).mean() >= 0.98
    # FP32 weights stay in the file: BF16 is a compute precision, not a storage one.
    assert result.metrics["size_after_bytes"] > 0.9 * result.metrics["size_before_bytes"]


@needs_bf16
def test_int8_compute_precision_is_pinned_either_way(digits, tmp_path: Path) -> None:
    handle, split = digits
    x = split.x_train
    provider = GeneratorProvider(
        lambda rng: {handle.inputs[0].name: x[rng.integers(len(x)) : None][:1]},
        handle.inputs,
        num_samples=32,
    )
    bf16 = apply_technique("openvino_bf16", handle, TechniqueContext(workdir=tmp_path), {})
    ctx = TechniqueContext(workdir=tmp_path / "q", calibration=provider)
    mixed = apply_technique("openvino_int8", handle, ctx, {"subset_size": 32, "compute": "bf16"})
    assert load_openvino(mixed.handle.xml_path).inference_precision == "bf16"
    assert any("BF16" in change for change in mixed.changes)
    # An INT8 of the BF16 IR with compute='f32' does not inherit its parent's pin.
    ctx = TechniqueContext(workdir=tmp_path / "f", calibration=provider)
    plain = apply_technique("openvino_int8", bf16.handle, ctx, {"subset_size": 32})
    assert load_openvino(plain.handle.xml_path).inference_precision == "f32"


def test_bf16_stops_where_the_cpu_would_emulate_it(
    digits, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # This host may have BF16; the check itself is what is replaced (hardware it may lack).
    monkeypatch.setattr(
        host, "openvino_bf16", lambda flags=None: (False, "no BF16 instructions: emulated")
    )
    handle, _ = digits
    for technique, config in (("openvino_bf16", {}), ("openvino_int8", {"compute": "bf16"})):
        with pytest.raises(TechniqueError, match="no native BF16") as caught:
            apply_technique(technique, handle, TechniqueContext(workdir=tmp_path), config)
        assert "slower than FP32" in (caught.value.hint or "")
