"""OpenVINO techniques: FP32 IR conversion and NNCF post-training INT8 quantization.

Both take an ONNX or torch model (torch goes through the verified ONNX export, so input names
stay the same) and return an OpenVinoModelHandle (``path`` = the .xml). On x86 CPUs, OpenVINO's
INT8 kernels were the fastest INT8 path measured for conv nets and detectors; its ~0.2 ms
per-call overhead makes it a poor choice for tiny MLP policies.

Example:
    >>> result = apply_technique("openvino_int8", onnx_handle, ctx, {"subset_size": 300})  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field

from embodied_ai_architect.agents.optimization.base import (
    TechniqueConfig,
    TechniqueContext,
    TechniqueFamily,
    TechniqueManifest,
    TechniqueResult,
    register_technique,
)
from embodied_ai_architect.errors import ConfigError, TechniqueError
from embodied_ai_architect.modelio.handle import Framework, ModelHandle, OnnxModelHandle
from embodied_ai_architect.modelio.openvino_io import OpenVinoModelHandle

_TRANSFORMER_OPS = frozenset({"MVN", "Gelu", "ScaledDotProductAttention"})
# Activations with a negative tail: symmetric (performance) activation ranges waste codes on them.
_SIGNED_ACTIVATIONS = frozenset({"Swish", "Gelu", "HSwish", "Mish", "Elu", "Selu", "PRelu"})


def signed_activations(model: Any) -> bool:
    """Whether the graph has non-ReLU activations (SiLU/Swish, GELU, HSwish, ...) or x·sigmoid(x)
    written out, which NNCF's mixed preset (asymmetric activations) quantizes better."""
    for op in model.get_ops():
        kind = op.get_type_name()
        if kind in _SIGNED_ACTIVATIONS:
            return True
        if kind == "Multiply":
            sources = [port.get_source_output().get_node() for port in op.inputs()]
            if any(src.get_type_name() == "Sigmoid" for src in sources):
                inner = next(src for src in sources if src.get_type_name() == "Sigmoid")
                feeding = inner.inputs()[0].get_source_output().get_node()
                name = feeding.get_friendly_name()
                if any(src.get_friendly_name() == name for src in sources):
                    return True
    return False


class OpenVinoIrConfig(TechniqueConfig):
    """Convert to OpenVINO IR, FP32 compute.

    Example:
        >>> OpenVinoIrConfig(compress_to_fp16=False)
    """

    technique: ClassVar[str] = "openvino_ir"

    compress_to_fp16: bool = Field(
        default=False,
        description="Store weights as FP16 in the .bin (half the file); the CPU plugin still "
        "computes in FP32 on CPUs without FP16 arithmetic.",
        json_schema_extra={"search": [False, True]},
    )


class OpenVinoInt8Config(TechniqueConfig):
    """NNCF post-training INT8 quantization of an OpenVINO model.

    Example:
        >>> OpenVinoInt8Config(model_type="transformer", subset_size=128)
    """

    technique: ClassVar[str] = "openvino_int8"

    preset: Literal["auto", "performance", "mixed"] = Field(
        default="auto",
        description="performance: symmetric weights and activations; mixed: asymmetric "
        "activations, for activations that are not ReLU-like (SiLU, GELU, HSwish); 'auto' picks "
        "mixed when the graph has such activations. On YOLOv8s (SiLU) mixed kept the held-out "
        "fidelity at 1.00 where performance gave 0.94, at the same speed.",
        json_schema_extra={"search": ["auto", "performance", "mixed"]},
    )
    model_type: Literal["auto", "cnn", "transformer"] = Field(
        default="auto",
        description="'transformer' keeps attention/softmax paths accurate (needed for ViTs); "
        "'auto' picks it when the graph has Softmax/MVN/GELU.",
        json_schema_extra={"search": ["auto", "cnn", "transformer"]},
    )
    subset_size: int = Field(
        default=300,
        ge=1,
        description="Calibration samples NNCF uses for the activation statistics.",
        json_schema_extra={"search": [100, 300]},
    )
    fast_bias_correction: bool = Field(
        default=True,
        description="Fast bias correction (False runs the slower, sometimes more accurate "
        "BiasCorrection).",
        json_schema_extra={"search": [True, False]},
    )
    keep_output_tail: bool = Field(
        default=False,
        description="Keep the ops between the last weighted layers and the outputs in FP32 (a "
        "detector's box decoding, a softmax). NNCF's own patterns already skip most of them on "
        "YOLOv8s (same held-out fidelity with and without, measured); this makes it explicit "
        "for graphs its patterns miss.",
        json_schema_extra={"search": [False, True]},
    )
    keep_head_layers: bool = Field(
        default=False,
        description="Also keep the weighted layers nearest the outputs in FP32 (a detector's "
        "final 1×1 convolutions and DFL, a classifier's last Linear).",
        json_schema_extra={"search": [False, True]},
    )
    exclude_top_sensitive: int = Field(
        default=0,
        ge=0,
        description="Keep the N layers the Analysis agent found most sensitive to INT8 in FP32 "
        "(needs per-layer sensitivity in the model profile); the planner's mixed-precision "
        "fallback raises it one layer at a time.",
        json_schema_extra={"search": [0, 1, 3]},
    )
    ignored_names: list[str] = Field(
        default_factory=list,
        description="OpenVINO node names kept in FP32 (converted ONNX graphs keep ONNX node names).",
    )
    ignored_types: list[str] = Field(
        default_factory=list,
        description="OpenVINO op types kept in FP32, e.g. ['Multiply'].",
    )
    calibration_path: str | None = Field(
        default=None,
        description="Folder of images or .npy/.npz with inputs, used when the run has no "
        "calibration provider.",
    )


def _manifest(
    description: str,
    precision: str,
    needs_data: Literal["none", "calibration"],
    inputs: tuple[Framework, ...] = (Framework.ONNX, Framework.TORCH),
) -> TechniqueManifest:
    return TechniqueManifest(
        family=TechniqueFamily.QUANTIZATION,
        description=description,
        input_frameworks=list(inputs),
        output_framework=Framework.OPENVINO,
        runtime="openvino",
        precisions=[precision],
        needs_data=needs_data,
        requires=["openvino", "nncf"],
        extra="openvino",
    )


def _onnx_source(handle: ModelHandle, ctx: TechniqueContext) -> OnnxModelHandle:
    from embodied_ai_architect.modelio.export import export_onnx

    # Torch goes through the checked ONNX export: same input names and specs as the source.
    return export_onnx(handle, ctx.path("source.onnx"), threads=ctx.threads)


def _convert(source: OnnxModelHandle) -> Any:
    import openvino as ov

    try:
        model = ov.convert_model(str(source.onnx_path))
    except Exception as exc:  # OpenVINO's frontends raise their own exception types
        raise TechniqueError(
            f"OpenVINO cannot convert {source.onnx_path.name!r}: {str(exc).splitlines()[0]}",
            hint="the graph may use ops OpenVINO's ONNX frontend lacks; keep ONNX Runtime",
        ) from exc
    return _fix_shapes(model, source)


def input_shapes(model: Any, source: OnnxModelHandle) -> dict[str, list[int]]:
    """The shapes to give the converted model's inputs: the source handle's (the user's
    ``--input`` / ``--input-shape`` over the file's dynamic dims); a dimension the handle leaves
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
            f"OpenVINO cannot reshape {source.onnx_path.name!r} to {wanted}: "
            f"{str(exc).splitlines()[0]}",
            hint="the graph hard-codes another input size; give the shape it was exported for",
        ) from exc
    return model


def _save_and_load(
    model: Any, xml: Path, source: ModelHandle, ctx: TechniqueContext, *, fp16: bool
) -> Any:
    from embodied_ai_architect.modelio.openvino_io import load_openvino, save_openvino

    save_openvino(model, xml, compress_to_fp16=fp16)
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


def _read_ir(handle: OpenVinoModelHandle) -> Any:
    from embodied_ai_architect.modelio.openvino_io import openvino_core

    try:
        return openvino_core().read_model(str(handle.xml_path))
    except RuntimeError as exc:
        raise TechniqueError(
            f"OpenVINO cannot read {handle.xml_path.name!r}: {str(exc).splitlines()[0]}",
            hint="the IR is corrupt or from another OpenVINO version; convert the model again",
        ) from exc


def _ir_bytes(xml: Path) -> float:
    return float(xml.stat().st_size + xml.with_suffix(".bin").stat().st_size)


@register_technique(
    OpenVinoIrConfig,
    _manifest(
        "OpenVINO IR, FP32 compute on the CPU plugin (often faster than ONNX Runtime "
        "for conv nets on Intel CPUs).",
        "fp32",
        "none",
    ),
)
def apply_openvino_ir(
    handle: ModelHandle, config: OpenVinoIrConfig, ctx: TechniqueContext
) -> TechniqueResult:
    source = _onnx_source(handle, ctx)
    ctx.emit(30, "openvino_ir: converting")
    model = _convert(source)
    xml = ctx.path("openvino_ir.xml")
    ctx.emit(70, "openvino_ir: writing and compiling the IR")
    out = _save_and_load(model, xml, source, ctx, fp16=config.compress_to_fp16)
    return TechniqueResult(
        handle=out,
        changes=[
            "converted to OpenVINO IR"
            + (" (FP16 weights on disk)" if config.compress_to_fp16 else " (FP32)")
        ],
        metrics={
            "size_before_bytes": float(source.onnx_path.stat().st_size),
            "size_after_bytes": _ir_bytes(xml),
        },
    )


def _kept_in_fp32(
    model: Any, source: ModelHandle, config: OpenVinoInt8Config, ctx: TechniqueContext
) -> tuple[list[str], list[str]]:
    """OpenVINO op names NNCF must leave in FP32 for the tail / head / sensitivity options, and
    a note for each group."""
    from embodied_ai_architect.agents.optimization.quant.openvino_graph import (
        output_tail,
        ov_names_for,
    )

    names: list[str] = []
    notes: list[str] = []
    head, tail = output_tail(model)
    if config.keep_output_tail and tail:
        names += tail
        notes.append(
            f"kept the {len(tail)} ops after the last weighted layers in FP32 (output tail)"
        )
    if config.keep_head_layers and head:
        names += head
        notes.append(f"kept the {len(head)} weighted layers nearest the outputs in FP32")
    if config.exclude_top_sensitive and not isinstance(source, OnnxModelHandle):
        # An IR (the runtime step's FP32 version) keeps the ONNX node names it came from.
        if ctx.profile is None or not ctx.profile.sensitivity:
            raise ConfigError(
                f"openvino_int8: exclude_top_sensitive={config.exclude_top_sensitive} needs "
                "per-layer sensitivity from the Analysis agent, but the context has none",
                hint="set exclude_top_sensitive=0 or name the layers in ignored_names",
            )
        ranked = sorted(ctx.profile.sensitivity, key=lambda entry: -entry.score)
        chosen = [entry.layer for entry in ranked[: config.exclude_top_sensitive]]
        names += ov_names_for(chosen, model)
        notes += [f"kept {layer} in FP32 (sensitivity)" for layer in chosen]
    elif config.exclude_top_sensitive and isinstance(source, OnnxModelHandle):
        from embodied_ai_architect.agents.optimization.quant.mixed_precision import (
            resolve_exclusions,
        )
        from embodied_ai_architect.agents.optimization.quant.onnx_graph import load_proto

        onnx_names, reasons = resolve_exclusions(
            load_proto(source.onnx_path),
            technique="openvino_int8",
            nodes_to_exclude=[],
            exclude_top_sensitive=config.exclude_top_sensitive,
            profile=ctx.profile,
        )
        names += ov_names_for(onnx_names, model)
        notes += reasons
    return list(dict.fromkeys(names)), notes


@register_technique(
    OpenVinoInt8Config,
    _manifest(
        "NNCF post-training INT8 for OpenVINO: the fastest INT8 measured for conv nets "
        "and detectors on x86; model_type=transformer for ViTs.",
        "int8",
        "calibration",
        (Framework.ONNX, Framework.TORCH, Framework.OPENVINO),
    ),
)
def apply_openvino_int8(
    handle: ModelHandle, config: OpenVinoInt8Config, ctx: TechniqueContext
) -> TechniqueResult:
    import nncf

    from embodied_ai_architect.agents.optimization.quant.calibration import collect_samples

    samples = collect_samples(
        handle,
        ctx,
        technique="openvino_int8",
        num_samples=config.subset_size,
        calibration_path=config.calibration_path,
    )
    source: ModelHandle
    if isinstance(handle, OpenVinoModelHandle):
        # The runtime step's FP32 IR: NNCF quantizes the IR itself (same graph, same names).
        source, size_before = handle, _ir_bytes(handle.xml_path)
        model = _read_ir(handle)
    else:
        onnx_source = _onnx_source(handle, ctx)
        source, size_before = onnx_source, float(onnx_source.onnx_path.stat().st_size)
        ctx.emit(20, "openvino_int8: converting to OpenVINO")
        model = _convert(onnx_source)
    op_types = {op.get_type_name() for op in model.get_ops()}
    names = {op.get_friendly_name() for op in model.get_ops()}
    unknown = [name for name in config.ignored_names if name not in names]
    if unknown:
        sample = sorted(n for n in names if not n.startswith(("Constant", "onnx::")))[:6]
        raise ConfigError(
            f"openvino_int8: ignored_names {unknown} are not nodes of this model",
            hint=f"use OpenVINO node names (converted ONNX node names), e.g. {sample}",
        )
    bad_types = [t for t in config.ignored_types if t not in op_types]
    if bad_types:
        raise ConfigError(
            f"openvino_int8: ignored_types {bad_types} do not occur in this model",
            hint=f"op types present: {sorted(op_types)[:12]}",
        )
    # One Softmax is a classifier's output; attention has one per block.
    softmaxes = sum(op.get_type_name() == "Softmax" for op in model.get_ops())
    transformer = config.model_type == "transformer" or (
        config.model_type == "auto" and (bool(op_types & _TRANSFORMER_OPS) or softmaxes >= 2)
    )
    kept, kept_notes = _kept_in_fp32(model, source, config, ctx)
    preset = config.preset
    if preset == "auto":
        preset = "mixed" if signed_activations(model) else "performance"
    kwargs: dict[str, Any] = {
        "preset": nncf.QuantizationPreset.MIXED
        if preset == "mixed"
        else nncf.QuantizationPreset.PERFORMANCE,
        "subset_size": len(samples),
        "fast_bias_correction": config.fast_bias_correction,
    }
    if transformer:
        kwargs["model_type"] = nncf.ModelType.TRANSFORMER
    fp32_names = list(dict.fromkeys([*config.ignored_names, *kept]))
    if fp32_names or config.ignored_types:
        kwargs["ignored_scope"] = nncf.IgnoredScope(
            names=fp32_names, types=list(config.ignored_types)
        )
    ctx.emit(40, f"openvino_int8: NNCF calibration on {len(samples)} samples")
    try:
        quantized = nncf.quantize(model, nncf.Dataset(samples), **kwargs)
    except nncf.ValidationError as exc:
        raise ConfigError(
            f"openvino_int8: {exc}", hint="check ignored_names / ignored_types"
        ) from exc
    except Exception as exc:  # NNCF raises assorted errors from its backends
        raise TechniqueError(
            f"openvino_int8: NNCF quantization failed: {type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}",
            hint="try model_type='transformer' or keep failing layers in FP32 via ignored_names",
        ) from exc
    fake_quantize = sum(
        op.get_type_name() in ("FakeQuantize", "FakeConvert") for op in quantized.get_ops()
    )
    if not fake_quantize:
        raise TechniqueError(
            "openvino_int8: NNCF inserted no quantizers",
            hint="the model may have no quantizable ops",
        )
    xml = ctx.path("openvino_int8.xml")
    ctx.emit(80, "openvino_int8: writing and compiling the IR")
    out = _save_and_load(quantized, xml, source, ctx, fp16=False)
    return TechniqueResult(
        handle=out,
        changes=[
            f"NNCF INT8 ({preset} preset"
            + (", transformer model type" if transformer else "")
            + f", {len(samples)} calibration samples) with {fake_quantize} quantizers",
            *(f"kept {name} in FP32" for name in config.ignored_names),
            *kept_notes,
        ],
        metrics={
            "size_before_bytes": size_before,
            "size_after_bytes": _ir_bytes(xml),
            "quantized_nodes": float(fake_quantize),
            "excluded_nodes": float(len(fp32_names)),
            "calibration_samples": float(len(samples)),
        },
    )
