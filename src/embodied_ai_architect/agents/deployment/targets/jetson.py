"""Jetson / TensorRT 10 target: ONNX → serialized ``.engine`` (FP32, FP16, INT8 calibrated).

Build: ``trt.Builder`` → explicit-batch network → ``OnnxParser`` → ``BuilderConfig`` (precision
flags, workspace limit, an optimization profile for dynamic inputs, the entropy calibrator for
INT8) → ``build_serialized_network`` → ``.engine`` file. Run: ``trt.Runtime`` → engine →
execution context, tensor-address API (``set_input_shape`` / ``set_tensor_address`` /
``execute_async_v3``); the binding-index API was removed in TensorRT 10.

:func:`build_engine` takes the ``tensorrt`` module as an argument, so its orchestration is tested
on hosts without TensorRT; the target itself always imports the real package.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from embodied_ai_architect.agents.deployment.targets.base import (
    Conversion,
    DeployContext,
    DeploymentTarget,
    register_target,
)
from embodied_ai_architect.agents.deployment.tensorrt_calibrator import (
    CalibrationBatchStream,
    CalibrationCache,
    DeviceBuffers,
    TorchCudaBuffers,
    calibration_fingerprint,
    make_entropy_calibrator,
)
from embodied_ai_architect.errors import DeploymentError, InputError
from embodied_ai_architect.modelio.formats import ModelFormat
from embodied_ai_architect.modelio.handle import Feeds, Framework, ModelHandle
from embodied_ai_architect.schemas.deployment import DeploymentArtifact, DeploymentPrecision
from embodied_ai_architect.schemas.tensors import TensorSpec
from embodied_ai_architect.utils.deps import require_package

if TYPE_CHECKING:
    from embodied_ai_architect.data.calibration import CalibrationProvider
    from embodied_ai_architect.modelio.handle import OnnxModelHandle

DEFAULT_WORKSPACE_BYTES = 1 << 30  # 1 GiB: enough tactics for edge-sized CNNs on an Orin
# TensorRT 11 removed calibrator-based INT8 (IInt8EntropyCalibrator2, BuilderFlag.INT8) and the
# FP16 builder flag in favour of explicit Q/DQ quantization and strong typing; this build path
# is written for the 10.x API, so other majors are refused instead of failing half-way.
SUPPORTED_TENSORRT_MAJOR = 10


def tensorrt_major(trt: Any) -> int | None:
    version = str(getattr(trt, "__version__", ""))
    head = version.split(".", 1)[0]
    return int(head) if head.isdigit() else None


def check_tensorrt_version(trt: Any) -> None:
    major = tensorrt_major(trt)
    if major != SUPPORTED_TENSORRT_MAJOR:
        raise DeploymentError(
            f"TensorRT {getattr(trt, '__version__', '?')} is not supported: the jetson target "
            f"uses the TensorRT {SUPPORTED_TENSORRT_MAJOR}.x API",
            hint="install tensorrt 10.x (JetPack 6 ships 10.x); TensorRT 11 dropped "
            "calibrator-based INT8 and the FP16 builder flag",
        )


@dataclass
class EngineBuildSpec:
    """Everything build_engine needs (no TensorRT types, so it is built on any host)."""

    onnx_path: Path
    engine_path: Path
    precision: DeploymentPrecision
    input_shapes: dict[str, tuple[int, ...]]
    workspace_bytes: int = DEFAULT_WORKSPACE_BYTES
    calibration: CalibrationBatchStream | None = None
    cache: CalibrationCache | None = None
    logs: list[str] = field(default_factory=list)


def build_engine(trt: Any, spec: EngineBuildSpec, buffers: DeviceBuffers | None = None) -> Path:
    """Parse the ONNX graph, configure precision and build + serialize the engine."""
    check_tensorrt_version(trt)
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    # TensorRT 10 networks are always explicit-batch; the flag still exists (deprecated) in
    # early 10.x releases and is required by 8.x, so pass it where the enum has it.
    flags = 0
    creation_flags = getattr(trt, "NetworkDefinitionCreationFlag", None)
    if creation_flags is not None and hasattr(creation_flags, "EXPLICIT_BATCH"):
        flags = 1 << int(creation_flags.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(spec.onnx_path)):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise DeploymentError(
            f"TensorRT cannot parse {spec.onnx_path.name!r}: {'; '.join(errors) or 'unknown error'}",
            hint="the graph uses an op TensorRT lacks; re-export with another opset or simplify "
            "the graph (onnxsim)",
            details={"parser_errors": errors},
        )
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, spec.workspace_bytes)
    profile = _optimization_profile(trt, builder, network, spec)
    if profile is not None:
        config.add_optimization_profile(profile)
    if spec.precision is DeploymentPrecision.FP32:
        # Ampere+ GPUs use TF32 by default; "fp32" must mean FP32 numerics.
        config.clear_flag(trt.BuilderFlag.TF32)
    elif spec.precision is DeploymentPrecision.FP16:
        # Deprecated in 10.5 (still present in 10.x): query it where it exists.
        if not getattr(builder, "platform_has_fast_fp16", True):
            raise DeploymentError(
                "this GPU has no fast FP16 path",
                hint="use `precision` fp32 or int8",
                field="precision",
            )
        config.set_flag(trt.BuilderFlag.FP16)
    else:
        if spec.calibration is None or spec.cache is None:
            raise InputError(
                "INT8 engines need calibration data",
                hint="give `calibration.data_path`",
                field="calibration.data_path",
            )
        if not getattr(builder, "platform_has_fast_int8", True):
            raise DeploymentError(
                "this GPU has no fast INT8 path", hint="use `precision` fp16", field="precision"
            )
        config.set_flag(trt.BuilderFlag.INT8)
        # FP16 as well: layers TensorRT cannot run in INT8 fall back to FP16, not FP32.
        config.set_flag(trt.BuilderFlag.FP16)
        calibrator = make_entropy_calibrator(
            trt, spec.calibration, spec.cache, buffers or TorchCudaBuffers()
        )
        config.int8_calibrator = calibrator
        if profile is not None:
            config.set_calibration_profile(profile)
        if spec.cache.stale_reason:
            spec.logs.append(f"calibration cache not reused: {spec.cache.stale_reason}")
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise DeploymentError(
            "TensorRT failed to build the engine (see the TensorRT log above)",
            hint="raise the workspace limit, or try another precision",
        )
    spec.engine_path.parent.mkdir(parents=True, exist_ok=True)
    spec.engine_path.write_bytes(bytes(memoryview(serialized)))
    if spec.calibration is not None and spec.precision is DeploymentPrecision.INT8:
        served = spec.calibration.batches_served
        spec.logs.append(
            f"INT8 calibration: {served} batch(es) of {spec.calibration.batch_size}"
            + (
                f", {spec.calibration.dropped_samples} sample(s) dropped (partial batch)"
                if spec.calibration.dropped_samples
                else ""
            )
            + (" (scales read from the calibration cache)" if served == 0 else "")
        )
    return spec.engine_path


def _optimization_profile(trt: Any, builder: Any, network: Any, spec: EngineBuildSpec) -> Any:
    """Pin dynamic dimensions: min batch 1, opt = the requested shape, max = the larger of the
    requested and the calibration batch. Returns None when every input is static."""
    dynamic = False
    profile = builder.create_optimization_profile()
    calib_batch = spec.calibration.batch_size if spec.calibration is not None else 1
    for index in range(network.num_inputs):
        tensor = network.get_input(index)
        if tensor.name not in spec.input_shapes:
            raise InputError(
                f"no shape given for engine input {tensor.name!r}",
                hint=f"give `input_shapes` for each of the inputs {list(spec.input_shapes)}",
                field="input_shapes",
            )
        opt = tuple(spec.input_shapes[tensor.name])
        if all(int(d) > 0 for d in tensor.shape):
            continue
        dynamic = True
        minimum = (1, *opt[1:])
        maximum = (max(opt[0], calib_batch), *opt[1:])
        profile.set_shape(tensor.name, minimum, opt, maximum)
    return profile if dynamic else None


class TensorRTEngineHandle(ModelHandle):
    """Runs a serialized engine with the tensor-address API on the current CUDA stream."""

    framework = Framework.TENSORRT

    def __init__(
        self,
        engine_path: Path,
        inputs: list[TensorSpec],
        outputs: list[TensorSpec],
        *,
        calibration_cache: Path | None = None,
    ):
        self.engine_path = engine_path
        self.calibration_cache = calibration_cache
        super().__init__(
            name=engine_path.stem,
            source_format=ModelFormat.ONNX,
            path=engine_path,
            inputs=inputs,
            outputs=outputs,
            metadata={"runtime": "tensorrt"},
        )
        self.trt = load_tensorrt()
        import torch

        self._torch = torch
        runtime = self.trt.Runtime(self.trt.Logger(self.trt.Logger.WARNING))
        self.engine = runtime.deserialize_cuda_engine(engine_path.read_bytes())
        if self.engine is None:
            raise DeploymentError(
                f"TensorRT cannot deserialize {engine_path.name!r}",
                hint="engines only load with the TensorRT version and GPU they were built for; "
                "rebuild it on this device",
            )
        self.context = self.engine.create_execution_context()
        self._stream = torch.cuda.Stream()
        self.names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]

    def run(self, feeds: Feeds) -> Feeds:
        self.check_feeds(feeds)
        torch = self._torch
        trt = self.trt
        keep: list[Any] = []  # device tensors must outlive execute_async_v3
        outputs: dict[str, Any] = {}
        # A dedicated stream: enqueueV3 on the legacy default stream forces extra syncs.
        with torch.cuda.stream(self._stream):
            for name in self.names:
                if self.engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
                    array = np.ascontiguousarray(
                        feeds[name], dtype=trt.nptype(self.engine.get_tensor_dtype(name))
                    )
                    self.context.set_input_shape(name, array.shape)
                    tensor = torch.from_numpy(array).to("cuda", non_blocking=False)
                    keep.append(tensor)
                    self.context.set_tensor_address(name, tensor.data_ptr())
            for name in self.names:
                if self.engine.get_tensor_mode(name) == trt.TensorIOMode.OUTPUT:
                    # Concrete now that every input shape is set.
                    shape = tuple(self.context.get_tensor_shape(name))
                    dtype = trt.nptype(self.engine.get_tensor_dtype(name))
                    tensor = torch.empty(
                        shape, dtype=torch.from_numpy(np.zeros(0, dtype)).dtype, device="cuda"
                    )
                    outputs[name] = tensor
                    self.context.set_tensor_address(name, tensor.data_ptr())
            if not self.context.execute_async_v3(self._stream.cuda_stream):
                raise DeploymentError("TensorRT execution failed", hint="see the TensorRT log")
        self._stream.synchronize()
        # Same order as the ONNX graph's outputs, which validation compares position by position.
        order = [spec.name for spec in self.outputs if spec.name in outputs] or list(outputs)
        return {name: outputs[name].cpu().numpy() for name in order}


def load_tensorrt() -> Any:
    return require_package("tensorrt", extra="jetson", purpose="the jetson target")


@register_target("jetson")
class JetsonTarget(DeploymentTarget):
    """NVIDIA Jetson (and any CUDA GPU) through TensorRT 10 engines."""

    description = "NVIDIA Jetson / CUDA GPUs via TensorRT 10 (.engine)"
    runtime = "tensorrt"
    frameworks = frozenset({Framework.TENSORRT})
    requires = ("tensorrt",)
    extra = "jetson"
    needs_cuda = True
    install = (
        "TensorRT 10: pip install 'embodied-ai-architect[jetson]' on a CUDA host, or JetPack 6's "
        "TensorRT on a Jetson"
    )

    def probe(self) -> tuple[bool, str]:
        try:
            trt = load_tensorrt()
        except Exception as exc:  # a broken install raises arbitrary errors at import
            return False, f"tensorrt is installed but fails to import: {exc}"
        if tensorrt_major(trt) != SUPPORTED_TENSORRT_MAJOR:
            return False, (
                f"tensorrt {getattr(trt, '__version__', '?')} found, but this target uses the "
                f"TensorRT {SUPPORTED_TENSORRT_MAJOR}.x API: install tensorrt 10.x"
            )
        return True, f"available (TensorRT {getattr(trt, '__version__', '?')})"

    artifact_suffix = ".engine"
    packages = "TensorRT engines"
    convert_hint = "build the engine with the tensorrt_engine or tensorrt_int8 technique"
    artifact_format = "tensorrt_engine"
    devices = ("cuda",)
    verified = (
        "not run on a GPU yet: TensorRT is not installable on the build hosts. Calibration "
        "batching, cache reuse and build orchestration are tested against a stand-in trt module "
        "(tests/agents/deployment/test_jetson_target.py)"
    )
    conversions: ClassVar[dict[tuple[DeploymentPrecision, str], Conversion]] = {
        (DeploymentPrecision.FP32, "static"): Conversion("tensorrt_engine", {"precision": "fp32"}),
        (DeploymentPrecision.FP16, "static"): Conversion("tensorrt_engine", {"precision": "fp16"}),
        (DeploymentPrecision.INT8, "static"): Conversion("tensorrt_int8"),
    }

    def package(
        self, handle: ModelHandle, precision: DeploymentPrecision, ctx: DeployContext
    ) -> DeploymentArtifact:
        engine = self.package_path(handle, precision, ctx)
        assert isinstance(handle, TensorRTEngineHandle)  # the only handle of framework TENSORRT
        shutil.copyfile(handle.engine_path, engine)
        extra = []
        if handle.calibration_cache is not None and handle.calibration_cache.exists():
            extra.append(ctx.out_dir / "calibration.cache")
            shutil.copyfile(handle.calibration_cache, extra[0])
        signature = ctx.out_dir / f"{engine.stem}.io.json"
        signature.write_text(
            json.dumps(
                {
                    "inputs": [s.model_dump(mode="json") for s in handle.inputs],
                    "outputs": [s.model_dump(mode="json") for s in handle.outputs],
                }
            )
        )
        return self.artifact(
            handle,
            engine,
            precision,
            runtime_version=str(getattr(handle.trt, "__version__", "unknown")),
            extra_files=[*extra, signature],
            details={
                "workspace_bytes": DEFAULT_WORKSPACE_BYTES,
                "calibrator": "entropy_v2" if precision is DeploymentPrecision.INT8 else None,
            },
        )

    def load(self, artifact: DeploymentArtifact, *, threads: int) -> ModelHandle:
        del threads
        signature = artifact.path.with_name(f"{artifact.path.stem}.io.json")
        if not signature.exists():
            raise DeploymentError(
                f"the engine's signature file {signature.name!r} is missing", hint="redeploy"
            )
        io = json.loads(signature.read_text())
        return TensorRTEngineHandle(
            artifact.path,
            [TensorSpec.model_validate(s) for s in io["inputs"]],
            [TensorSpec.model_validate(s) for s in io["outputs"]],
        )


def engine_spec(
    model: OnnxModelHandle,
    precision: DeploymentPrecision,
    out_dir: Path,
    calibration: CalibrationProvider | None,
) -> EngineBuildSpec:
    """The build spec for ``model``: shapes, paths, and the calibration stream + cache for INT8."""
    shapes = {spec.name: spec.concrete_shape(1) for spec in model.inputs}
    engine_path = out_dir / f"{model.name}_{precision.value}.engine"
    spec = EngineBuildSpec(
        onnx_path=model.onnx_path, engine_path=engine_path, precision=precision, input_shapes=shapes
    )
    if precision is DeploymentPrecision.INT8:
        if calibration is None:
            raise InputError(
                "INT8 engines need calibration data",
                hint="give `calibration.data_path`",
                field="calibration.data_path",
            )
        spec.calibration = CalibrationBatchStream(
            calibration, [s.name for s in model.inputs], calibration.batch_size
        )
        fingerprint = calibration_fingerprint(
            model.onnx_path,
            num_samples=calibration.num_samples,
            batch_size=calibration.batch_size,
            data=str(getattr(calibration, "folder", getattr(calibration, "path", ""))),
        )
        spec.cache = CalibrationCache(out_dir / "calibration.cache", fingerprint)
    return spec
