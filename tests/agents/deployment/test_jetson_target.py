"""Jetson / TensorRT: the host-independent parts, without TensorRT.

TensorRT cannot be installed on these hosts. The build orchestration is exercised against a
small stand-in ``trt`` module defined here (tests only) that records what the production code
asks of the TensorRT 10 API; calibration batching and the cache are plain code tested directly.
"""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from embodied_ai_architect.agents.deployment.targets.jetson import (
    EngineBuildSpec,
    JetsonTarget,
    build_engine,
    engine_spec,
)
from embodied_ai_architect.agents.deployment.tensorrt_calibrator import (
    CalibrationBatchStream,
    CalibrationCache,
    calibration_fingerprint,
    make_entropy_calibrator,
)
from embodied_ai_architect.data.calibration import ArrayProvider, ImageFolderProvider
from embodied_ai_architect.errors import DeploymentError, InputError
from embodied_ai_architect.schemas.deployment import DeploymentPrecision
from embodied_ai_architect.schemas.tensors import TensorSpec

SPEC = TensorSpec(name="images", shape=["batch", 3, 64, 64])


class HostBuffers:
    """Stands in for device memory: keeps the uploaded arrays and hands out fake pointers."""

    def __init__(self) -> None:
        self.uploaded: list[tuple[str, np.ndarray]] = []
        self.released = False

    def upload(self, name: str, array: np.ndarray) -> int:
        self.uploaded.append((name, array.copy()))
        return 0x1000 + len(self.uploaded)

    def release(self) -> None:
        self.released = True


def fake_trt(*, parse_ok: bool = True, fast_fp16: bool = True) -> Any:
    """A recording stand-in for the parts of the TensorRT 10 Python API the build path uses."""
    calls: list[Any] = []

    class Logger:
        WARNING = 2

        def __init__(self, level: int) -> None:
            self.level = level

    class Tensor:
        def __init__(self, name: str, shape: tuple[int, ...]) -> None:
            self.name = name
            self.shape = shape

    class Network:
        num_inputs = 1

        def get_input(self, index: int) -> Tensor:
            return Tensor("images", (-1, 3, 64, 64))

    class Parser:
        num_errors = 0 if parse_ok else 1

        def __init__(self, network: Network, logger: Logger) -> None:
            calls.append(("parser", network))

        def parse_from_file(self, path: str) -> bool:
            calls.append(("parse", Path(path).name))
            return parse_ok

        def get_error(self, index: int) -> str:
            return "In node 3 (importFoo): UNSUPPORTED_NODE: Foo"

    class Profile:
        def __init__(self) -> None:
            self.shapes: dict[str, tuple[Any, ...]] = {}

        def set_shape(self, name: str, minimum: Any, opt: Any, maximum: Any) -> None:
            self.shapes[name] = (minimum, opt, maximum)

    class Config:
        def __init__(self) -> None:
            self.flags: set[str] = set()
            self.cleared: set[str] = set()
            self.int8_calibrator: Any = None
            self.profiles: list[Profile] = []
            self.calibration_profile: Profile | None = None
            self.pool: dict[str, int] = {}

        def set_memory_pool_limit(self, pool: str, size: int) -> None:
            self.pool[pool] = size

        def set_flag(self, flag: str) -> None:
            self.flags.add(flag)

        def clear_flag(self, flag: str) -> None:
            self.cleared.add(flag)

        def add_optimization_profile(self, profile: Profile) -> None:
            self.profiles.append(profile)

        def set_calibration_profile(self, profile: Profile) -> None:
            self.calibration_profile = profile

    class Builder:
        platform_has_fast_fp16 = fast_fp16
        platform_has_fast_int8 = True

        def __init__(self, logger: Logger) -> None:
            self.logger = logger

        def create_network(self, flags: int) -> Network:
            calls.append(("create_network", flags))
            return Network()

        def create_builder_config(self) -> Config:
            config = Config()
            calls.append(("config", config))
            return config

        def create_optimization_profile(self) -> Profile:
            return Profile()

        def build_serialized_network(self, network: Network, config: Config) -> bytes:
            calibrator = config.int8_calibrator
            # What TensorRT does: try the cache, else pull batches until None, then write.
            if calibrator is not None and calibrator.read_calibration_cache() is None:
                while calibrator.get_batch(["images"]) is not None:
                    pass
                calibrator.write_calibration_cache(memoryview(b"TRT-calibration-table"))
            return b"serialized-engine"

    class IInt8EntropyCalibrator2:
        def __init__(self) -> None:
            calls.append(("calibrator_base_init",))

    module = types.SimpleNamespace(
        __version__="10.0-fake",
        Logger=Logger,
        Builder=Builder,
        OnnxParser=Parser,
        IInt8EntropyCalibrator2=IInt8EntropyCalibrator2,
        NetworkDefinitionCreationFlag=types.SimpleNamespace(EXPLICIT_BATCH=0),
        MemoryPoolType=types.SimpleNamespace(WORKSPACE="workspace"),
        BuilderFlag=types.SimpleNamespace(FP16="FP16", INT8="INT8", TF32="TF32"),
        calls=calls,
    )
    return module


def image_provider(folder: Path, count: int, batch_size: int) -> ImageFolderProvider:
    from PIL import Image

    folder.mkdir(exist_ok=True)
    for index in range(count):
        Image.new("RGB", (80, 80), color=(index * 20, 10, 200)).save(folder / f"{index}.png")
    return ImageFolderProvider(folder, [SPEC], num_samples=count, batch_size=batch_size)


def config_of(trt: Any) -> Any:
    return next(arg for name, *rest in trt.calls if name == "config" for arg in rest)


def test_batches_are_full_sized_preprocessed_and_renamed(tmp_path: Path) -> None:
    provider = image_provider(tmp_path / "calib", 7, batch_size=3)
    stream = CalibrationBatchStream(provider, ["input.1"], batch_size=3)
    batches = list(stream)
    assert len(batches) == 2 and stream.dropped_samples == 1  # 7 = 3 + 3 + 1 dropped
    for batch in batches:
        array = batch["input.1"]
        assert array.shape == (3, 3, 64, 64) and array.dtype == np.float32
        assert array.flags["C_CONTIGUOUS"]
    # Preprocessing (scale 1/255) reached the calibrator: values are in [0, 1].
    assert batches[0]["input.1"].min() >= 0.0 and batches[0]["input.1"].max() <= 1.0
    assert np.isclose(batches[0]["input.1"][0, 2].mean(), 200 / 255, atol=1e-3)


def test_calibrator_serves_batches_then_writes_and_reuses_the_cache(tmp_path: Path) -> None:
    trt = fake_trt()
    np.save(
        tmp_path / "calib.npy", np.arange(4 * 3 * 64 * 64, dtype=np.float32).reshape(4, 3, 64, 64)
    )
    provider = ArrayProvider(tmp_path / "calib.npy", [SPEC], num_samples=4, batch_size=2)
    cache = CalibrationCache(tmp_path / "calibration.cache", "fp-1")
    buffers = HostBuffers()
    calibrator = make_entropy_calibrator(
        trt, CalibrationBatchStream(provider, ["images"], 2), cache, buffers
    )
    assert isinstance(calibrator, trt.IInt8EntropyCalibrator2)
    assert ("calibrator_base_init",) in trt.calls
    assert calibrator.get_batch_size() == 2
    assert calibrator.read_calibration_cache() is None
    pointers = [calibrator.get_batch(["images"]), calibrator.get_batch(["images"])]
    assert pointers == [[0x1001], [0x1002]]
    assert calibrator.get_batch(["images"]) is None and buffers.released
    assert np.array_equal(buffers.uploaded[1][1], np.load(tmp_path / "calib.npy")[2:4])
    calibrator.write_calibration_cache(memoryview(b"table"))
    # Same fingerprint: reused. Different model or data: not reused, and the reason is kept.
    assert CalibrationCache(tmp_path / "calibration.cache", "fp-1").read() == b"table"
    stale = CalibrationCache(tmp_path / "calibration.cache", "fp-2")
    assert stale.read() is None and stale.stale_reason is not None


def test_calibrator_rejects_inputs_it_has_no_data_for(tmp_path: Path) -> None:
    trt = fake_trt()
    np.save(tmp_path / "c.npy", np.zeros((2, 3, 64, 64), dtype=np.float32))
    provider = ArrayProvider(tmp_path / "c.npy", [SPEC], num_samples=2)
    calibrator = make_entropy_calibrator(
        trt,
        CalibrationBatchStream(provider, ["images"], 1),
        CalibrationCache(tmp_path / "x.cache", "f"),
        HostBuffers(),
    )
    with pytest.raises(InputError, match="other_input"):
        calibrator.get_batch(["images", "other_input"])


def test_int8_build_calibrates_once_then_reuses_the_cache(tmp_path: Path) -> None:
    onnx_path = tmp_path / "model.onnx"
    onnx_path.write_bytes(b"onnx-bytes")
    provider = image_provider(tmp_path / "calib", 4, batch_size=2)
    fingerprint = calibration_fingerprint(onnx_path, num_samples=4, batch_size=2, data="calib")

    def build(out: str) -> tuple[Any, EngineBuildSpec, HostBuffers]:
        trt = fake_trt()
        spec = EngineBuildSpec(
            onnx_path=onnx_path,
            engine_path=tmp_path / out / "model_int8.engine",
            precision=DeploymentPrecision.INT8,
            input_shapes={"images": (1, 3, 64, 64)},
            calibration=CalibrationBatchStream(provider, ["images"], 2),
            cache=CalibrationCache(tmp_path / "calibration.cache", fingerprint),
        )
        buffers = HostBuffers()
        build_engine(trt, spec, buffers)
        return trt, spec, buffers

    trt, spec, buffers = build("first")
    assert spec.engine_path.read_bytes() == b"serialized-engine"
    config = config_of(trt)
    assert {"INT8", "FP16"} <= config.flags
    assert config.pool == {"workspace": 1 << 30}
    assert config.int8_calibrator is not None
    # Dynamic batch → one profile, also used for calibration, covering the calibration batch.
    (profile,) = config.profiles
    assert profile.shapes["images"] == ((1, 3, 64, 64), (1, 3, 64, 64), (2, 3, 64, 64))
    assert config.calibration_profile is profile
    assert len(buffers.uploaded) == 2 and "2 batch(es) of 2" in spec.logs[-1]
    assert (tmp_path / "calibration.cache").read_bytes() == b"TRT-calibration-table"
    assert ("create_network", 1) in trt.calls and ("parse", "model.onnx") in trt.calls

    _, second, second_buffers = build("second")
    assert second_buffers.uploaded == [], "a matching cache must skip calibration"
    assert "calibration cache" in second.logs[-1]


def test_fp16_and_fp32_flags(tmp_path: Path) -> None:
    onnx_path = tmp_path / "m.onnx"
    onnx_path.write_bytes(b"x")
    for precision, flags, cleared in (
        (DeploymentPrecision.FP16, {"FP16"}, set()),
        (DeploymentPrecision.FP32, set(), {"TF32"}),
    ):
        trt = fake_trt()
        spec = EngineBuildSpec(
            onnx_path=onnx_path,
            engine_path=tmp_path / f"{precision.value}.engine",
            precision=precision,
            input_shapes={"images": (1, 3, 64, 64)},
        )
        build_engine(trt, spec)
        config = config_of(trt)
        assert config.flags == flags and config.cleared == cleared
        assert config.int8_calibrator is None


def test_parser_errors_and_missing_fp16_become_deployment_errors(tmp_path: Path) -> None:
    onnx_path = tmp_path / "m.onnx"
    onnx_path.write_bytes(b"x")
    spec = EngineBuildSpec(
        onnx_path=onnx_path,
        engine_path=tmp_path / "m.engine",
        precision=DeploymentPrecision.FP16,
        input_shapes={"images": (1, 3, 64, 64)},
    )
    with pytest.raises(DeploymentError, match="UNSUPPORTED_NODE") as info:
        build_engine(fake_trt(parse_ok=False), spec)
    assert info.value.details["parser_errors"]
    with pytest.raises(DeploymentError, match="no fast FP16"):
        build_engine(fake_trt(fast_fp16=False), spec)
    assert not spec.engine_path.exists()


def test_tensorrt_other_than_10_is_refused_before_building(tmp_path: Path) -> None:
    trt = fake_trt()
    trt.__version__ = "11.4.0"
    spec = EngineBuildSpec(
        onnx_path=tmp_path / "m.onnx",
        engine_path=tmp_path / "m.engine",
        precision=DeploymentPrecision.FP16,
        input_shapes={"images": (1, 3, 64, 64)},
    )
    with pytest.raises(DeploymentError, match=r"11\.4\.0 is not supported") as info:
        build_engine(trt, spec)
    assert "10.x" in info.value.hint
    assert trt.calls == [], "nothing may be built with an unsupported TensorRT"


def test_engine_spec_for_an_exported_graph(tmp_path: Path) -> None:
    from embodied_ai_architect.modelio.formats import ModelFormat
    from embodied_ai_architect.modelio.handle import OnnxModelHandle

    onnx_path = tmp_path / "net.onnx"
    onnx_path.write_bytes(b"graph")
    model = OnnxModelHandle(
        onnx_path, name="net", source_format=ModelFormat.ONNX, inputs=[SPEC], outputs=[]
    )
    provider = image_provider(tmp_path / "calib", 2, batch_size=1)
    spec = engine_spec(model, DeploymentPrecision.INT8, tmp_path, provider)
    assert spec.engine_path == tmp_path / "net_int8.engine"
    assert spec.input_shapes == {"images": (1, 3, 64, 64)}
    assert spec.cache is not None and spec.cache.path == tmp_path / "calibration.cache"
    with pytest.raises(InputError, match="calibration"):
        engine_spec(model, DeploymentPrecision.INT8, tmp_path, None)


def test_availability_says_exactly_why_on_this_host() -> None:
    ok, reason = JetsonTarget().is_available()
    assert not ok
    # Everything missing is named, with how to get it.
    assert "tensorrt (not importable" in reason and "jetson" in reason
    assert "CUDA device" in reason
    caps = JetsonTarget().get_capabilities()
    assert caps.needs_cuda and caps.extra == "jetson" and "not run on a GPU" in caps.verified


@pytest.mark.parametrize("technique", ["tensorrt_engine", "tensorrt_int8"])
def test_tensorrt_conversions_are_refused_before_any_work_here(
    technique: str, tmp_path: Path
) -> None:
    """The jetson target's conversions are registered techniques; on a host without TensorRT
    and CUDA they stop before touching the model, naming both."""
    from embodied_ai_architect.agents.optimization.base import (
        TechniqueContext,
        apply_technique,
        get_technique,
    )
    from embodied_ai_architect.errors import DependencyError
    from embodied_ai_architect.modelio.formats import ModelFormat
    from embodied_ai_architect.modelio.handle import OnnxModelHandle

    manifest = get_technique(technique).manifest
    assert manifest.runtime == "tensorrt" and manifest.needs_cuda
    onnx_path = tmp_path / "net.onnx"
    onnx_path.write_bytes(b"graph")
    model = OnnxModelHandle(
        onnx_path, name="net", source_format=ModelFormat.ONNX, inputs=[SPEC], outputs=[]
    )
    workdir = tmp_path / "work"
    with pytest.raises(DependencyError) as info:
        apply_technique(technique, model, TechniqueContext(workdir=workdir))
    assert "tensorrt" in info.value.message and "CUDA device" in info.value.message
    assert not workdir.exists()
