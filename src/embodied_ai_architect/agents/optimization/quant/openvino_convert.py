"""ONNX → OpenVINO IR and back to a runnable handle, for the OpenVINO techniques.

The conversion half of ``techniques/openvino_quantization.py``: torch goes through the checked
ONNX export (same input names and specs as the source), the converted model is reshaped to
the handle's concrete input shapes, and the written IR is loaded and run once so that an IR
this host cannot run fails in the technique, not in the evaluator.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from embodied_ai_architect.errors import TechniqueError, first_line
from embodied_ai_architect.modelio.handle import ModelHandle, OnnxModelHandle

if TYPE_CHECKING:
    from embodied_ai_architect.agents.optimization.base import TechniqueContext
    from embodied_ai_architect.modelio.openvino_io import OpenVinoModelHandle


def onnx_source(handle: ModelHandle, ctx: TechniqueContext) -> OnnxModelHandle:
    """``handle`` as ONNX (an ONNX handle as it is; torch through the checked export)."""
    from embodied_ai_architect.modelio.export import export_onnx

    return export_onnx(handle, ctx.path("source.onnx"), threads=ctx.threads)


def convert_onnx(source: OnnxModelHandle) -> Any:
    """The OpenVINO model of ``source``, reshaped to its handle's concrete input shapes."""
    import openvino as ov

    try:
        model = ov.convert_model(str(source.onnx_path))
    except Exception as exc:  # OpenVINO's frontends raise their own exception types
        raise TechniqueError(
            f"OpenVINO cannot convert {source.onnx_path.name!r}: {first_line(exc)}",
            hint="the graph may use ops OpenVINO's ONNX frontend lacks; keep ONNX Runtime",
        ) from exc
    return _fix_shapes(model, source)


def input_shapes(model: Any, source: OnnxModelHandle) -> dict[str, list[int]]:
    """The shapes to give the converted model's inputs: the source handle's (the user's
    `inputs` / `input_shapes` over the file's dynamic dims); a dimension the handle leaves
    symbolic stays dynamic (-1). Empty when nothing would change."""
    by_name = {spec.name: spec for spec in source.inputs}
    wanted: dict[str, list[int]] = {}
    for position, port in enumerate(model.inputs):
        names = port.get_names()
        spec = next((by_name[n] for n in names if n in by_name), None)
        if spec is None and position < len(source.inputs):
            spec = source.inputs[position]
        partial = port.get_partial_shape()
        if spec is None or partial.rank.is_dynamic or len(spec.shape) != partial.rank.get_length():
            continue
        dims = [d if isinstance(d, int) and d > 0 else -1 for d in spec.shape]
        current = [int(d.get_length()) if d.is_static else -1 for d in partial]
        if dims != current:
            wanted[port.get_any_name()] = dims
    return wanted


def _fix_shapes(model: Any, source: OnnxModelHandle) -> Any:
    """Reshape an IR whose ONNX source had dynamic dims to the handle's concrete shapes: without
    it the IR's signature stays dynamic and nothing can feed it (and OpenVINO compiles static
    shapes into faster kernels)."""
    import openvino as ov

    wanted = input_shapes(model, source)
    if not wanted:
        return model
    try:
        model.reshape({name: ov.PartialShape(dims) for name, dims in wanted.items()})
    except Exception as exc:  # OpenVINO raises RuntimeError subclasses of its own
        raise TechniqueError(
            f"OpenVINO cannot reshape {source.onnx_path.name!r} to {wanted}: {first_line(exc)}",
            hint="the graph hard-codes another input size; give the shape it was exported for",
        ) from exc
    return model


def save_and_load(
    model: Any,
    xml: Path,
    source: ModelHandle,
    ctx: TechniqueContext,
    *,
    fp16: bool,
    inference_precision: str | None = None,
    threads: int | None = None,
) -> OpenVinoModelHandle:
    """Write ``model`` as ``xml`` (+ .bin) and load it as a handle with ``source``'s signature;
    ``inference_precision`` (e.g. ``bf16``) and ``threads`` are recorded in the IR and pin how
    it compiles."""
    from embodied_ai_architect.modelio.openvino_io import load_openvino, save_openvino

    save_openvino(
        model,
        xml,
        compress_to_fp16=fp16,
        inference_precision=inference_precision,
        threads=threads,
    )
    handle = load_openvino(
        xml,
        threads=ctx.threads,
        name=source.name,
        input_specs=source.inputs,
        output_names=[spec.name for spec in source.outputs],
        metadata={**source.metadata},
    )
    # Fail here, not in the evaluator, when the IR cannot run on this host.
    handle.run(handle.example_inputs(batch=1, seed=0))
    return handle


def openvino_model(
    handle: ModelHandle, ctx: TechniqueContext, technique: str
) -> tuple[ModelHandle, float, Any]:
    """(the handle whose signature the result keeps, its size in bytes, the OpenVINO model) for
    any input: an IR is read as it is (same graph, same names — the runtime step's FP32 IR),
    ONNX and torch are converted."""
    from embodied_ai_architect.modelio.openvino_io import OpenVinoModelHandle

    if isinstance(handle, OpenVinoModelHandle):
        return handle, ir_bytes(handle.xml_path), read_ir(handle)
    onnx_handle = onnx_source(handle, ctx)
    ctx.emit(20, f"{technique}: converting to OpenVINO")
    return onnx_handle, float(onnx_handle.onnx_path.stat().st_size), convert_onnx(onnx_handle)


def read_ir(handle: OpenVinoModelHandle) -> Any:
    """The OpenVINO model behind an IR handle (to quantize the IR itself)."""
    from embodied_ai_architect.modelio.openvino_io import openvino_core

    try:
        return openvino_core().read_model(str(handle.xml_path))
    except RuntimeError as exc:
        raise TechniqueError(
            f"OpenVINO cannot read {handle.xml_path.name!r}: {first_line(exc)}",
            hint="the IR is corrupt or from another OpenVINO version; convert the model again",
        ) from exc


def ir_bytes(xml: Path) -> float:
    """Size of an IR on disk: the .xml and its .bin."""
    return float(xml.stat().st_size + xml.with_suffix(".bin").stat().st_size)
