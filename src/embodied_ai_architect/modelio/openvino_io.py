"""OpenVINO IR (.xml + .bin): a ModelHandle compiled for the CPU plugin, plus save/convert helpers.

OpenVINO is an optional extra (``pip install 'embodied-ai-architect[openvino]'``); it is imported
only inside these functions so that importing this module stays cheap.

Example:
    >>> handle = load_openvino(Path("model.xml"), threads=2)  # doctest: +SKIP
    >>> outputs = handle.run(handle.example_inputs())  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from embodied_ai_architect.errors import (
    DeploymentError,
    ExportError,
    InputError,
    ModelFormatError,
    ModelLoadError,
    first_line,
)
from embodied_ai_architect.modelio.formats import ModelFormat
from embodied_ai_architect.modelio.handle import Feeds, Framework, ModelHandle
from embodied_ai_architect.modelio.onnx_io import DECLARED_THREADS
from embodied_ai_architect.schemas.tensors import TensorSpec
from embodied_ai_architect.utils.deps import require_package

if TYPE_CHECKING:
    import openvino

_core: list[Any] = []  # one ov.Core per process: creating it scans plugins (~100 ms)


def openvino_core() -> Any:
    """The process-wide ``openvino.Core`` (raises DependencyError when OpenVINO is missing)."""
    if not _core:
        ov = require_package("openvino", extra="openvino", purpose="OpenVINO models")
        _core.append(ov.Core())
    return _core[0]


class OpenVinoModelHandle(ModelHandle):
    """An OpenVINO IR model (``path`` is the .xml; the .bin lies next to it), run on the CPU plugin.

    The model is compiled lazily on the first ``run`` with ``INFERENCE_NUM_THREADS = threads``
    and the LATENCY performance hint (one stream), which is what batch-1 robotics inference wants.
    ``inference_precision`` (``f32`` / ``f16``) pins ``INFERENCE_PRECISION_HINT``: a version must
    run in the precision it was measured and validated at. Without it the plugin picks, and on CPUs
    with AVX512-BF16 or AMX it runs FP32 IR in BF16 (``load_openvino`` therefore always pins one).
    """

    framework = Framework.OPENVINO

    def __init__(
        self,
        xml_path: Path,
        *,
        threads: int | None = None,
        device: str = "CPU",
        inference_precision: str | None = None,
        **kwargs: Any,
    ):
        kwargs.setdefault("path", Path(xml_path))
        super().__init__(**kwargs)
        self.xml_path = Path(xml_path)
        self.threads = threads
        self.device = device
        self.inference_precision = inference_precision
        self._compiled: Any = None
        self._request: Any = None

    def compiled_model(self) -> Any:
        """The ``openvino.CompiledModel`` (compiled once, on first use)."""
        if self._compiled is None:
            core = openvino_core()
            config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY"}
            if self.threads:
                config["INFERENCE_NUM_THREADS"] = int(self.threads)
            if self.inference_precision:
                config["INFERENCE_PRECISION_HINT"] = self.inference_precision
            try:
                self._compiled = core.compile_model(str(self.xml_path), self.device, config)
            except RuntimeError as exc:
                if self.inference_precision and self.inference_precision != "f32":
                    raise DeploymentError(
                        f"OpenVINO cannot compile {self.xml_path.name!r} with "
                        f"{self.inference_precision} precision: {first_line(exc)}",
                        hint="this device lacks that precision; deploy at fp32 instead",
                    ) from exc
                raise ModelLoadError(
                    f"OpenVINO cannot compile {self.xml_path.name!r} for {self.device}: "
                    f"{first_line(exc)}",
                    hint="the IR may use ops or precisions this device lacks; "
                    "check `branes deploy list` for OpenVINO's capabilities on this host",
                ) from exc
            self._request = self._compiled.create_infer_request()
        return self._compiled

    def run(self, feeds: Feeds) -> Feeds:
        self.check_feeds(feeds)
        compiled = self.compiled_model()
        wanted = {spec.name for spec in self.inputs}
        inputs = {name: np.ascontiguousarray(v) for name, v in feeds.items() if name in wanted}
        try:
            results = self._request.infer(inputs)
        except RuntimeError as exc:
            raise InputError(
                f"OpenVINO inference failed: {first_line(exc)}",
                hint=f"feed arrays matching the inputs {[(s.name, s.shape, s.dtype) for s in self.inputs]}",
            ) from exc
        names = [spec.name for spec in self.outputs]
        if len(names) != len(compiled.outputs):
            names = _port_names(compiled.outputs, "output")
        # The request reuses its output buffers between calls: copy before handing them out.
        return {
            name: np.array(results[port], copy=True)
            for name, port in zip(names, compiled.outputs, strict=True)
        }


def load_openvino(
    xml_path: Path,
    *,
    threads: int | None = None,
    name: str | None = None,
    source_format: ModelFormat = ModelFormat.ONNX,
    input_specs: list[TensorSpec] | None = None,
    output_names: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    inference_precision: str | None = None,
) -> OpenVinoModelHandle:
    """Open an IR ``.xml`` (its ``.bin`` next to it) and read its signature.

    ``source_format`` records what the IR was converted from (the intake does not read IR files
    itself). ``input_specs`` (e.g. the source handle's, with integer ranges) override the
    signature read from the IR when they name the same inputs. A port can carry several tensor
    names; ``output_names`` (e.g. the source ONNX graph's) says which to prefer.
    ``inference_precision`` pins the compile precision (see :class:`OpenVinoModelHandle`); by
    default it is the one the IR records (:func:`pinned_precision`, e.g. ``openvino_bf16``'s),
    else :func:`compute_precision` of the IR, so the optimizer measures a version in the
    precision its deployment will run, not in the BF16 the CPU plugin would pick on its own.
    An IR that records a thread count (:func:`pinned_threads`) runs with it whatever
    ``threads`` says.
    """
    xml_path = Path(xml_path)
    if xml_path.suffix != ".xml" or not xml_path.is_file():
        raise ModelFormatError(
            f"{str(xml_path)!r} is not an OpenVINO IR .xml file",
            hint="pass the .xml written by openvino.save_model (its .bin must lie next to it)",
        )
    if not xml_path.with_suffix(".bin").is_file():
        raise ModelFormatError(
            f"the weights file {xml_path.with_suffix('.bin').name!r} is missing",
            hint="keep the .bin next to the .xml, as openvino.save_model wrote them",
        )
    core = openvino_core()
    try:
        model = core.read_model(str(xml_path))
    except RuntimeError as exc:
        raise ModelFormatError(
            f"{xml_path.name!r} is not a readable OpenVINO IR: {first_line(exc)}",
            hint="the IR is corrupt or from a newer OpenVINO; convert the model again",
        ) from exc
    pinned = pinned_threads(model)
    if pinned is not None:
        # The IR's own measured thread count (openvino_threads) wins over the caller's default,
        # as a declared ONNX Runtime count does; metrics report it as the version's count.
        threads = pinned
        metadata = {**(metadata or {}), DECLARED_THREADS: pinned}
    preferred = {spec.name for spec in input_specs or []} | set(output_names or [])
    inputs = ports_to_specs(model.inputs, "input", preferred)
    if input_specs is not None:
        inputs = _merge_specs(inputs, input_specs)
    return OpenVinoModelHandle(
        xml_path,
        threads=threads,
        name=name or xml_path.stem,
        source_format=source_format,
        inputs=inputs,
        outputs=ports_to_specs(model.outputs, "output", preferred),
        metadata=metadata or {},
        inference_precision=inference_precision
        or pinned_precision(model)
        or compute_precision(has_fp16_weights(model)),
    )


def compute_precision(fp16_weights: bool) -> str:
    """The INFERENCE_PRECISION_HINT a model runs in: f16 only for FP16 weights on a CPU with FP16
    units, f32 otherwise (INT8 layers run in INT8 whatever the hint)."""
    if not fp16_weights:
        return "f32"
    capabilities = openvino_core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    return "f16" if "FP16" in capabilities else "f32"


# Where an IR records the precision it was measured in (e.g. ``bf16`` compute of FP32 weights):
# the file then says how it must be compiled, wherever it is loaded again.
PRECISION_RT_INFO = ["branes", "inference_precision"]


# ... and the INFERENCE_NUM_THREADS it was measured fastest with (technique openvino_threads).
THREADS_RT_INFO = ["branes", "threads"]


def pinned_precision(model: Any) -> str | None:
    """The INFERENCE_PRECISION_HINT an IR was written with (:func:`save_openvino`), or None."""
    if not model.has_rt_info(PRECISION_RT_INFO):
        return None
    return str(model.get_rt_info(PRECISION_RT_INFO).astype(str))


def pinned_threads(model: Any) -> int | None:
    """The thread count an IR was written with (:func:`save_openvino`), or None."""
    if not model.has_rt_info(THREADS_RT_INFO):
        return None
    value = int(model.get_rt_info(THREADS_RT_INFO).astype(int))
    return value if value > 0 else None


def has_fp16_weights(model: Any) -> bool:
    """Whether an IR stores its weights in FP16 (``save_model(compress_to_fp16=True)``)."""
    return any(
        op.get_type_name() == "Constant" and op.get_output_element_type(0).get_type_name() == "f16"
        for op in model.get_ops()
    )


def save_openvino(
    model: openvino.Model,
    xml_path: Path,
    *,
    compress_to_fp16: bool = False,
    inference_precision: str | None = None,
    threads: int | None = None,
) -> Path:
    """Write ``model`` as IR. FP32 weights by default: OpenVINO's own default halves them to
    FP16 on disk, which changes numerics on CPUs that compute in FP32 anyway.
    ``inference_precision`` is recorded in the IR (:func:`pinned_precision`), so that
    :func:`load_openvino` compiles it in that precision wherever it is loaded; ``threads`` the
    same for INFERENCE_NUM_THREADS."""
    ov = require_package("openvino", extra="openvino", purpose="OpenVINO models")
    xml_path = Path(xml_path)
    xml_path.parent.mkdir(parents=True, exist_ok=True)
    if inference_precision is not None:
        model.set_rt_info(inference_precision, PRECISION_RT_INFO)
    if threads is not None:
        model.set_rt_info(int(threads), THREADS_RT_INFO)
    try:
        ov.save_model(model, str(xml_path), compress_to_fp16=compress_to_fp16)
    except RuntimeError as exc:
        raise ExportError(
            f"writing the OpenVINO IR {xml_path.name!r} failed: {first_line(exc)}",
            hint="check free disk space and write permissions of the work directory",
        ) from exc
    return xml_path


def ports_to_specs(
    ports: Any, prefix: str, preferred: set[str] | frozenset[str] = frozenset()
) -> list[TensorSpec]:
    """TensorSpecs for OpenVINO model inputs/outputs (dynamic dims become symbolic names)."""
    specs: list[TensorSpec] = []
    for index, (port, name) in enumerate(
        zip(ports, _port_names(ports, prefix, preferred), strict=True)
    ):
        shape: list[int | str] = []
        partial = port.get_partial_shape()
        if partial.rank.is_static:
            for position, dim in enumerate(partial):
                if dim.is_static:
                    shape.append(int(dim.get_length()))
                else:
                    shape.append("batch" if position == 0 else f"dim{position}")
        dtype = np.dtype(port.get_element_type().to_dtype()).name
        specs.append(TensorSpec(name=name or f"{prefix}_{index}", shape=shape, dtype=dtype))
    return specs


def _port_names(
    ports: Any, prefix: str, preferred: set[str] | frozenset[str] = frozenset()
) -> list[str]:
    names: list[str] = []
    for index, port in enumerate(ports):
        tensor_names = sorted(port.get_names())
        # Converted ONNX graphs keep the ONNX tensor name (sometimes beside an internal one);
        # nameless ports get a positional name.
        chosen = [n for n in tensor_names if n in preferred] or tensor_names
        names.append(chosen[0] if chosen else f"{prefix}_{index}")
    return names


def _merge_specs(read: list[TensorSpec], given: list[TensorSpec]) -> list[TensorSpec]:
    by_name = {spec.name: spec for spec in given}
    if set(by_name) != {spec.name for spec in read}:
        raise InputError(
            f"input specs {sorted(by_name)} do not match the IR's inputs "
            f"{[spec.name for spec in read]}",
            hint="pass specs named like the model's inputs, or none",
        )
    return [by_name[spec.name].model_copy(update={"shape": spec.shape}) for spec in read]
