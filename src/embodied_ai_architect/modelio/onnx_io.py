"""ONNX files: load + check, signature, ONNX Runtime sessions."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from embodied_ai_architect.errors import ModelFormatError, ModelLoadError, describe, first_line
from embodied_ai_architect.modelio.formats import ModelFormat
from embodied_ai_architect.schemas.tensors import TensorSpec

if TYPE_CHECKING:
    import onnx
    import onnxruntime

    from embodied_ai_architect.modelio.handle import OnnxModelHandle

_ONNX_TO_NUMPY = {
    1: "float32",
    2: "uint8",
    3: "int8",
    5: "int16",
    6: "int32",
    7: "int64",
    9: "bool",
    10: "float16",
    11: "float64",
    16: "bfloat16",
}


# Metadata key (and technique config field) by which a version declares the intra-op thread
# count its ONNX Runtime session runs with (technique ``ort_threads``). Timing, the registry and
# the onnxruntime deployment honour it instead of the run's --threads.
DECLARED_THREADS = "intra_op_threads"


def declared_threads(handle: Any) -> int | None:
    """The intra-op thread count ``handle`` declares (None: it runs with the run's count)."""
    value = getattr(handle, "metadata", {}).get(DECLARED_THREADS)
    return int(value) if isinstance(value, int) and value > 0 else None


def declare_threads(handle: OnnxModelHandle, threads: int) -> OnnxModelHandle:
    """The same ONNX file as a handle that declares, and runs with, ``threads`` intra-op threads."""
    return handle.with_file(
        handle.onnx_path,
        threads=threads,
        metadata={**handle.metadata, DECLARED_THREADS: threads},
    )


def load_onnx_proto(
    path: Path, *, load_external_data: bool = True, check: bool = True
) -> onnx.ModelProto:
    """Parse and check an ONNX file (external data files are resolved next to it).

    ``check=False`` skips the ONNX checker for graphs written for ONNX Runtime (its offline
    optimizer emits fused ops such as LayerNormalization at opsets the spec has no such op for):
    for those, creating the ORT session is the validation that counts.
    """
    import onnx
    from google.protobuf.message import DecodeError

    try:
        model = onnx.load(str(path), load_external_data=load_external_data)
    except FileNotFoundError as exc:
        raise ModelFormatError(
            f"{path.name!r} refers to an external data file that is missing: {exc.filename}",
            hint="keep the external data files next to the .onnx file, as exported",
        ) from exc
    except onnx.checker.ValidationError as exc:
        # onnx.load validates external data locations while reading them.
        raise ModelFormatError(
            f"{path.name!r} refers to external data that is missing or unreadable: "
            f"{first_line(exc)}",
            hint="keep the external data files next to the .onnx file, as exported",
        ) from exc
    except (DecodeError, ValueError, RuntimeError, OSError, TypeError) as exc:
        # protobuf / onnx raise several types on garbage; all mean "not a readable ONNX file".
        raise ModelFormatError(
            f"{path.name!r} is not a readable ONNX model: {describe(exc)}",
            hint="the file is corrupt or truncated; export it again",
        ) from exc
    if not model.graph.node:
        raise ModelFormatError(
            f"{path.name!r} parsed as ONNX but has an empty graph",
            hint="this is not an ONNX model (or an empty one); pass a real model file",
        )
    if not check:
        return model
    try:
        # The path form of the checker handles models above 2 GB and external data.
        onnx.checker.check_model(str(path))
    except onnx.checker.ValidationError as exc:
        raise ModelFormatError(
            f"{path.name!r} fails the ONNX checker: {first_line(exc)}",
            hint="re-export the model with a current exporter (torch.onnx.export, tf2onnx)",
        ) from exc
    return model


def value_info_specs(values: Any, initializer_names: set[str]) -> list[TensorSpec]:
    specs: list[TensorSpec] = []
    for value in values:
        if value.name in initializer_names:
            continue
        tensor_type = value.type.tensor_type
        shape: list[int | str] = []
        for index, dim in enumerate(tensor_type.shape.dim):
            if dim.HasField("dim_value") and dim.dim_value > 0:
                shape.append(int(dim.dim_value))
            else:
                shape.append(dim.dim_param or ("batch" if index == 0 else f"dim{index}"))
        dtype = _ONNX_TO_NUMPY.get(tensor_type.elem_type, "float32")
        specs.append(TensorSpec(name=value.name, shape=shape, dtype=dtype))
    return specs


def onnx_signature(model: onnx.ModelProto) -> tuple[list[TensorSpec], list[TensorSpec]]:
    initializers = {init.name for init in model.graph.initializer}
    return (
        value_info_specs(model.graph.input, initializers),
        value_info_specs(model.graph.output, set()),
    )


def apply_shapes(specs: list[TensorSpec], shapes: list[list[int]] | None) -> list[TensorSpec]:
    """Override input shapes given by the user (one per input, in order)."""
    if shapes is None:
        return specs
    if len(shapes) != len(specs):
        from embodied_ai_architect.errors import InputError

        raise InputError(
            f"{len(shapes)} input shape(s) given but the model has {len(specs)} input(s): "
            f"{[s.name for s in specs]}",
            hint="give one `input_shapes` entry per model input, in order",
            field="input_shapes",
        )
    out: list[TensorSpec] = []
    for spec, shape in zip(specs, shapes, strict=True):
        if len(spec.shape) and len(shape) != len(spec.shape):
            from embodied_ai_architect.errors import InputError

            raise InputError(
                f"input {spec.name!r} has rank {len(spec.shape)} ({spec.shape}) but the shape "
                f"given has rank {len(shape)} ({shape})",
                hint="match the model's input rank, e.g. 1,3,224,224 for an image model",
            )
        for dim, given in zip(spec.shape, shape, strict=False):
            if isinstance(dim, int) and dim > 0 and dim != given:
                from embodied_ai_architect.errors import InputError

                raise InputError(
                    f"input {spec.name!r} has a fixed shape {spec.shape}; {shape} does not match",
                    hint=f"use the model's shape, e.g. {','.join(str(d) for d in spec.shape)}",
                )
        out.append(spec.model_copy(update={"shape": list(shape)}))
    return out


def load_onnx(
    path: Path,
    *,
    input_shapes: list[list[int]] | None,
    threads: int | None = None,
    check: bool = True,
) -> OnnxModelHandle:
    from embodied_ai_architect.modelio.handle import OnnxModelHandle

    model = load_onnx_proto(path, check=check)
    inputs, outputs = onnx_signature(model)
    inputs = apply_shapes(inputs, input_shapes)
    return OnnxModelHandle(
        path,
        name=path.stem,
        source_format=ModelFormat.ONNX,
        inputs=inputs,
        outputs=outputs,
        threads=threads,
        metadata={"opset": max((o.version for o in model.opset_import), default=0)},
    )


def create_session(
    model: Path | onnx.ModelProto,
    *,
    threads: int | None = None,
    providers: list[str] | None = None,
    profile_prefix: Path | None = None,
) -> onnxruntime.InferenceSession:
    """An ORT session with a fixed thread count (latency figures record it), from a file or an
    in-memory graph; with ``profile_prefix``, ORT's per-kernel profiler writes there."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    options.log_severity_level = 3
    if profile_prefix is not None:
        options.enable_profiling = True
        options.profile_file_prefix = str(profile_prefix)
    source = str(model) if isinstance(model, Path) else model.SerializeToString()
    try:
        return ort.InferenceSession(
            source, sess_options=options, providers=providers or ["CPUExecutionProvider"]
        )
    except Exception as exc:  # ORT raises its own pybind exception types
        name = model.name if isinstance(model, Path) else model.graph.name
        raise ModelLoadError(
            f"ONNX Runtime cannot load {name!r}: {first_line(exc)}",
            hint="the graph may use ops or types ONNX Runtime's CPU provider lacks",
        ) from exc
