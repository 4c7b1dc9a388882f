"""Architecture family from structure, with the evidence that decided it.

Nothing is assumed from a file name or a class name alone: every family needs structural facts
(layer kinds, kernel/stride, attention, output shapes, a causality probe on the real model), and
each fact that counted is written into ``FamilyDetection.evidence``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from embodied_ai_architect.agents.analysis.structure import (
    ACTIVATION_OPS,
    CONV_OPS,
    LINEAR_OPS,
    NORM_OPS,
    LayerRecord,
    ModelStructure,
)
from embodied_ai_architect.agents.evaluation.heads import classify_outputs
from embodied_ai_architect.modelio.handle import Feeds, ModelHandle, TorchModelHandle
from embodied_ai_architect.schemas.profile import (
    ArchitectureFamily,
    FamilyDetection,
    HeadKind,
    OutputHead,
)
from embodied_ai_architect.schemas.tensors import TensorSpec

# Path segments naming the parts of a vision-language-action model (LLaVA / OpenVLA / pi0 style).
COMPONENT_PATTERNS: dict[str, re.Pattern[str]] = {
    "vision_tower": re.compile(
        r"vision|visual|image_encoder|img_encoder|vit|siglip|clip|dino", re.I
    ),
    "projector": re.compile(r"projector|connector|mm_proj|multi_modal_proj|adapter", re.I),
    "language_model": re.compile(
        r"language|llm|text_model|lm_model|^lm$|decoder|backbone_lm", re.I
    ),
    "action_head": re.compile(r"action|policy_head|act_head|actor", re.I),
}
_ATTENTION_NAMES = re.compile(r"(^|\.)(q_proj|k_proj|v_proj|qkv|c_attn|query|key|in_proj)", re.I)
_DETECTION_NAMES = re.compile(r"box|bbox|anchor|yolo|detect|cls_head|objectness", re.I)
_SMALL_ACTION = 64  # a policy's action vector is small; classifiers / LLM heads are not


@dataclass
class Signals:
    """Facts read from the structure, shared by the family rules."""

    attention_blocks: int = 0
    attention_evidence: str = ""
    patch_embedding: LayerRecord | None = None
    convs: int = 0
    linears: int = 0
    embeddings: list[LayerRecord] = field(default_factory=list)
    only_mlp: bool = False
    image_inputs: list[TensorSpec] = field(default_factory=list)
    token_inputs: list[TensorSpec] = field(default_factory=list)
    vector_inputs: list[TensorSpec] = field(default_factory=list)


def _attention(structure: ModelStructure) -> tuple[int, str]:
    if structure.framework == "torch":
        paths = [p for p, kind in structure.module_types.items() if "Attention" in kind]
        outermost = [p for p in paths if not any(p.startswith(f"{o}.") for o in paths if o != p)]
        if outermost:
            kind = structure.module_types[outermost[0]]
            return len(outermost), f"{len(outermost)} attention module(s) ({kind})"
        sdpa = [op for op in structure.compute_ops if "scaled_dot_product" in op]
        if sdpa:
            return 1, f"scaled-dot-product attention kernels run ({sdpa[0]})"
        named = {
            w.name.rsplit(".", 2)[0] for w in structure.weights if _ATTENTION_NAMES.search(w.name)
        }
        if named:
            return len(named), f"query/key/value projection weights in {len(named)} block(s)"
        return 0, ""
    fused = structure.compute_ops.get("Attention", 0) + structure.compute_ops.get(
        "MultiHeadAttention", 0
    )
    if fused:
        return fused, f"{fused} fused Attention node(s)"
    softmax = structure.compute_ops.get("Softmax", 0)
    act_matmuls = sum(
        1 for layer in structure.layers if layer.op_type == "MatMul" and not layer.parameters
    )
    if softmax and act_matmuls >= 2:
        return (
            softmax,
            f"{softmax} Softmax node(s) between activation×activation MatMuls (attention)",
        )
    return 0, ""


def read_signals(structure: ModelStructure, inputs: list[TensorSpec]) -> Signals:
    signals = Signals()
    signals.attention_blocks, signals.attention_evidence = _attention(structure)
    for layer in structure.layers:
        kernel = layer.attrs.get("kernel_size")
        stride = layer.attrs.get("stride")
        if (
            layer.op_type in CONV_OPS
            and kernel
            and kernel == stride
            and max(kernel) > 1
            and signals.patch_embedding is None
        ):
            signals.patch_embedding = layer
        if layer.op_type in ("Embedding",) or (
            layer.op_type == "Gather" and "num_embeddings" in layer.attrs
        ):
            signals.embeddings.append(layer)
    # The token table is the largest embedding (position tables are small).
    signals.embeddings.sort(key=lambda layer: -int(layer.attrs.get("num_embeddings", 0)))
    signals.convs = structure.count(CONV_OPS)
    signals.linears = structure.count(LINEAR_OPS)
    weighted = [layer for layer in structure.layers if layer.parameters]
    signals.only_mlp = bool(weighted) and all(
        layer.op_type in LINEAR_OPS | NORM_OPS | ACTIVATION_OPS
        for layer in structure.layers
        if layer.op_type not in ("Parameter",)
        and (structure.framework == "torch" or layer.parameters)
    )
    for spec in inputs:
        integer = np.issubdtype(np.dtype(spec.dtype), np.integer)
        if integer:
            signals.token_inputs.append(spec)
        elif len(spec.shape) == 4:
            signals.image_inputs.append(spec)
        else:
            signals.vector_inputs.append(spec)
    return signals


def find_components(structure: ModelStructure) -> dict[str, str]:
    """component → shallowest module path (torch) or weight-name prefix (ONNX) whose name says it."""
    if structure.framework == "torch":
        paths = [p for p in structure.module_types if p]
    else:
        paths = sorted({w.name.rsplit(".", 2)[0] for w in structure.weights if "." in w.name})
    found: dict[str, str] = {}
    for path in sorted(paths, key=lambda p: (p.count("."), p)):
        if path.count(".") > 2:
            continue
        segment = path.rsplit(".", 1)[-1]
        for component, pattern in COMPONENT_PATTERNS.items():
            # A part nested inside an already-found part is that part's sub-module.
            nested = any(path.startswith(f"{other}.") for other in found.values())
            if component not in found and not nested and pattern.search(segment):
                found[component] = path
                break
    return found


def _params_under(structure: ModelStructure, prefix: str) -> int:
    return sum(w.numel for w in structure.weights if w.name.startswith(f"{prefix}."))


_PROBE_TOKENS = 8  # causality shows at any length; a short probe costs far less than a full pass


def probe_causal(
    handle: ModelHandle, feeds: Feeds, token_input: str, reference: Feeds | None = None
) -> bool | None:
    """Change only the last token and check earlier positions' outputs stay bit-for-bit close:
    true for causal (decoder) attention, false for bidirectional encoders. None: not testable.

    Torch models are probed on the first few tokens only (two short passes instead of a full
    one on a 100 M-parameter model); models that refuse a shorter sequence are probed at full
    length against ``reference``."""
    ids = feeds[token_input]
    if ids.ndim != 2 or ids.shape[1] < 2:
        return None
    if isinstance(handle, TorchModelHandle) and ids.shape[1] > _PROBE_TOKENS:
        short = {**feeds, token_input: np.ascontiguousarray(ids[:, :_PROBE_TOKENS])}
        try:
            return _probe(handle, short, token_input, None)
        except Exception:  # a fixed-length model; the full-length probe below decides
            pass
    return _probe(handle, feeds, token_input, reference)


def _probe(
    handle: ModelHandle, feeds: Feeds, token_input: str, reference: Feeds | None
) -> bool | None:
    ids = feeds[token_input]
    changed = {**feeds, token_input: ids.copy()}
    spec = next(s for s in handle.inputs if s.name == token_input)
    high = int(spec.high) if spec.high is not None else int(ids.max()) + 2
    changed[token_input][:, -1] = (ids[:, -1] + 1) % max(high, 2)
    before = next(iter((reference or handle.run(feeds)).values()))
    after = next(iter(handle.run(changed).values()))
    if before.ndim < 3 or before.shape[1] != ids.shape[1]:
        return None
    last_changed = not np.allclose(before[:, -1], after[:, -1], atol=1e-6)
    earlier_same = np.allclose(before[:, :-1], after[:, :-1], atol=1e-5, rtol=1e-4)
    return bool(earlier_same and last_changed)


def detect_family(
    structure: ModelStructure,
    handle: ModelHandle,
    outputs: list[TensorSpec],
    feeds: Feeds,
    reference: Feeds | None = None,
) -> FamilyDetection:
    """Decide the architecture family; the first rule whose structural facts all hold wins.

    The output head (what the outputs mean: detector boxes + scores, dense map, class scores,
    embedding, action) is read from the output shapes and recorded with its evidence; the
    Evaluation agent measures fidelity per part of it. ``reference`` are the model's outputs
    on ``feeds`` when already computed."""
    values = list(reference.values()) if reference is not None else None
    head = classify_outputs(
        [_concrete(spec, reference, i) for i, spec in enumerate(outputs)],
        [list(spec.shape) for spec in handle.inputs],
        values=values,
    )
    detection = _detect(structure, handle, outputs, feeds, reference, head)
    if head.kind in (HeadKind.DETECTOR, HeadKind.DENSE_MAP, HeadKind.SEQUENCE):
        return detection.model_copy(update={"head": head})
    family_head = classify_outputs(
        [_concrete(spec, reference, i) for i, spec in enumerate(outputs)],
        [list(spec.shape) for spec in handle.inputs],
        detection.family.value,
    )
    return detection.model_copy(update={"head": family_head})


def _concrete(spec: TensorSpec, reference: Feeds | None, index: int) -> list[int | str | None]:
    """The output's shape, with the batch dimension filled in as 1 when it is symbolic."""
    if reference is not None and index < len(reference):
        return list(list(reference.values())[index].shape)
    shape: list[int | str | None] = list(spec.shape)
    if shape and not isinstance(shape[0], int):
        shape[0] = 1
    return shape


def _detect(
    structure: ModelStructure,
    handle: ModelHandle,
    outputs: list[TensorSpec],
    feeds: Feeds,
    reference: Feeds | None,
    head: OutputHead,
) -> FamilyDetection:
    signals = read_signals(structure, handle.inputs)
    evidence: list[str] = []
    out_shapes = [[d for d in spec.shape if isinstance(d, int)] for spec in outputs]
    attention = signals.attention_blocks > 0
    if attention:
        evidence.append(signals.attention_evidence)

    components = find_components(structure)
    vla_parts = {"vision_tower", "language_model", "action_head"}
    if vla_parts <= set(components):
        total = max(structure.parameters, 1)
        parts = [
            f"{name} at '{path}' ({_params_under(structure, path) / total:.0%} of parameters)"
            for name, path in components.items()
        ]
        evidence = [f"components found in the module tree: {'; '.join(parts)}"]
        if signals.image_inputs and signals.token_inputs:
            evidence.append(
                f"inputs: image {signals.image_inputs[0].shape} + tokens "
                f"{signals.token_inputs[0].shape}"
            )
        if signals.patch_embedding is not None:
            evidence.append(f"vision patch embedding {_patch_text(signals.patch_embedding)}")
        if signals.embeddings:
            evidence.append(f"token embedding {_embedding_text(signals.embeddings[0])}")
        return FamilyDetection(
            family=ArchitectureFamily.VLA, confidence=0.9, evidence=evidence, components=components
        )

    if signals.token_inputs and signals.embeddings and attention:
        embedding = signals.embeddings[0]
        evidence.append(f"integer token input {signals.token_inputs[0].name!r}")
        evidence.append(f"token embedding {_embedding_text(embedding)}")
        causal = probe_causal(handle, feeds, signals.token_inputs[0].name, reference)
        vocab = embedding.attrs.get("num_embeddings")
        if causal:
            evidence.append(
                "causal: changing the last token leaves earlier positions' outputs unchanged"
            )
            if vocab and out_shapes and out_shapes[0] and out_shapes[0][-1] == vocab:
                evidence.append(f"LM head: output last dimension = vocabulary size {vocab}")
            return FamilyDetection(
                family=ArchitectureFamily.DECODER_LLM,
                confidence=0.95 if len(evidence) >= 4 else 0.8,
                evidence=evidence,
                components=components,
            )
        if causal is False:
            evidence.append("bidirectional: changing the last token changes earlier positions")
        return FamilyDetection(
            family=ArchitectureFamily.TRANSFORMER_ENCODER,
            confidence=0.8 if causal is False else 0.6,
            evidence=evidence,
            components=components,
        )

    if attention and signals.patch_embedding is not None:
        evidence.insert(0, f"patch embedding {_patch_text(signals.patch_embedding)}")
        return FamilyDetection(
            family=ArchitectureFamily.VIT, confidence=0.9, evidence=evidence, components=components
        )

    if head.kind is HeadKind.SEQUENCE and signals.image_inputs and signals.convs:
        return FamilyDetection(
            family=ArchitectureFamily.SEQUENCE_RECOGNIZER,
            confidence=0.8,
            evidence=[
                head.evidence,
                f"image input {signals.image_inputs[0].shape}, {signals.convs} conv layer(s)",
            ],
            components=components,
        )

    detector = _detector_evidence(structure, out_shapes)
    if head.kind is HeadKind.DETECTOR:
        detector = [*detector, head.evidence]
        if signals.convs and not any("convolutional backbone" in e for e in detector):
            detector.append(f"convolutional backbone ({signals.convs} conv layers)")
    if detector:
        return FamilyDetection(
            family=ArchitectureFamily.DETECTOR,
            confidence=0.85 if len(detector) >= 2 else 0.7,
            evidence=detector,
            components=components,
        )

    small_output = bool(out_shapes) and all(
        shape and shape[-1] <= _SMALL_ACTION for shape in out_shapes
    )
    if attention and signals.vector_inputs and not signals.image_inputs:
        spec = signals.vector_inputs[0]
        evidence.append(f"continuous input {spec.name!r} {spec.shape} (observations, not tokens)")
        if small_output:
            evidence.append(f"small output {out_shapes[0]} (an action vector)")
            return FamilyDetection(
                family=ArchitectureFamily.TRANSFORMER_POLICY,
                confidence=0.8,
                evidence=evidence,
                components=components,
            )
    if attention:
        return FamilyDetection(
            family=ArchitectureFamily.TRANSFORMER_ENCODER,
            confidence=0.6,
            evidence=evidence,
            components=components,
        )

    conv_share = structure.share(CONV_OPS)
    if signals.convs and signals.image_inputs and len(out_shapes) == 1 and len(out_shapes[0]) == 2:
        evidence = [
            f"{signals.convs} convolution layer(s) holding {conv_share:.0%} of parameters",
            f"image input {signals.image_inputs[0].shape}",
            f"one output {out_shapes[0]} (class scores)",
        ]
        return FamilyDetection(
            family=ArchitectureFamily.CNN_CLASSIFIER,
            confidence=0.9 if conv_share >= 0.3 else 0.7,
            evidence=evidence,
            components=components,
        )

    if head.kind is HeadKind.DENSE_MAP and signals.convs:
        return FamilyDetection(
            family=ArchitectureFamily.SEGMENTATION,
            confidence=0.8,
            evidence=[
                head.evidence,
                f"{signals.convs} convolution layer(s), image input {signals.image_inputs[0].shape}"
                if signals.image_inputs
                else f"{signals.convs} convolution layer(s)",
            ],
            components=components,
        )

    if signals.only_mlp and signals.linears and small_output and signals.vector_inputs:
        kinds = sorted(
            {layer.op_type for layer in structure.layers if layer.op_type != "Parameter"}
        )
        evidence = [
            f"only Linear layers and activations/norms ({', '.join(kinds)})",
            f"{signals.linears} Linear layer(s), vector input {signals.vector_inputs[0].shape}",
            f"small output {out_shapes[0]} (an action vector)",
        ]
        return FamilyDetection(
            family=ArchitectureFamily.MLP_POLICY,
            confidence=0.85,
            evidence=evidence,
            components=components,
        )

    evidence.append(
        f"no family rule matched: {signals.convs} conv, {signals.linears} linear, "
        f"{signals.attention_blocks} attention block(s), outputs {out_shapes}"
    )
    return FamilyDetection(
        family=ArchitectureFamily.OTHER, confidence=0.3, evidence=evidence, components=components
    )


def _detector_evidence(structure: ModelStructure, out_shapes: list[list[int]]) -> list[str]:
    evidence: list[str] = []
    boxes = [s for s in out_shapes if len(s) >= 2 and s[-1] == 4]
    others = [s for s in out_shapes if s not in boxes and len(s) >= 2]
    if len(out_shapes) >= 2 and boxes and others:
        evidence.append(f"box-like output {boxes[0]} (last dimension 4) beside scores {others[0]}")
    named = sorted(
        {
            layer.name
            for layer in structure.layers
            if layer.parameters and _DETECTION_NAMES.search(layer.name)
        }
    )
    if named and (len(out_shapes) >= 2 or evidence):
        evidence.append(f"detection-head layers: {', '.join(named[:4])}")
    if evidence and structure.count(CONV_OPS):
        evidence.append(f"convolutional backbone ({structure.count(CONV_OPS)} conv layers)")
    return evidence if any("box-like" in e or "detection-head" in e for e in evidence) else []


def _patch_text(layer: LayerRecord) -> str:
    return (
        f"'{layer.name}' ({layer.op_type}, kernel {layer.attrs.get('kernel_size')} = "
        f"stride {layer.attrs.get('stride')})"
    )


def _embedding_text(layer: LayerRecord) -> str:
    return (
        f"'{layer.name}' ({layer.attrs.get('num_embeddings')} × {layer.attrs.get('embedding_dim')})"
    )
