"""Architecture family from structure, with the evidence that decided it.

Nothing is assumed from a file name or a class name alone: every family needs structural facts
(layer kinds, kernel/stride, attention, output shapes, a causality probe on the real model), and
each fact that counted is written into ``FamilyDetection.evidence``. The facts are read in
``family_signals``; the rules that weigh them are here.
"""

from __future__ import annotations

import re

from embodied_ai_architect.agents.analysis.family_signals import (
    COMPONENT_PATTERNS,
    Signals,
    embedding_text,
    find_components,
    params_under,
    patch_text,
    probe_causal,
    read_signals,
)
from embodied_ai_architect.agents.analysis.structure import CONV_OPS, ModelStructure
from embodied_ai_architect.agents.evaluation.heads import classify_outputs
from embodied_ai_architect.modelio.handle import Feeds, ModelHandle
from embodied_ai_architect.schemas.profile import (
    ArchitectureFamily,
    FamilyDetection,
    HeadKind,
    OutputHead,
)
from embodied_ai_architect.schemas.tensors import TensorSpec

__all__ = [
    "COMPONENT_PATTERNS",
    "Signals",
    "detect_family",
    "find_components",
    "probe_causal",
    "read_signals",
]

_DETECTION_NAMES = re.compile(r"box|bbox|anchor|yolo|detect|cls_head|objectness", re.I)
_SMALL_ACTION = 64  # a policy's action vector is small; classifiers / LLM heads are not


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
    output_shapes = [_concrete(spec, reference, i) for i, spec in enumerate(outputs)]
    input_shapes = [list(spec.shape) for spec in handle.inputs]
    head = classify_outputs(output_shapes, input_shapes, values=values)
    detection = _detect(structure, handle, outputs, feeds, reference, head)
    if head.kind in (HeadKind.DETECTOR, HeadKind.DENSE_MAP, HeadKind.SEQUENCE):
        return detection.model_copy(update={"head": head})
    family_head = classify_outputs(output_shapes, input_shapes, detection.family.value)
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

    def found(
        family: ArchitectureFamily, confidence: float, evidence: list[str]
    ) -> FamilyDetection:
        return FamilyDetection(
            family=family, confidence=confidence, evidence=evidence, components=components
        )

    vla_parts = {"vision_tower", "language_model", "action_head"}
    if vla_parts <= set(components):
        total = max(structure.parameters, 1)
        parts = [
            f"{name} at '{path}' ({params_under(structure, path) / total:.0%} of parameters)"
            for name, path in components.items()
        ]
        evidence = [f"components found in the module tree: {'; '.join(parts)}"]
        if signals.image_inputs and signals.token_inputs:
            evidence.append(
                f"inputs: image {signals.image_inputs[0].shape} + tokens "
                f"{signals.token_inputs[0].shape}"
            )
        if signals.patch_embedding is not None:
            evidence.append(f"vision patch embedding {patch_text(signals.patch_embedding)}")
        if signals.embeddings:
            evidence.append(f"token embedding {embedding_text(signals.embeddings[0])}")
        return found(ArchitectureFamily.VLA, 0.9, evidence)

    small_output = bool(out_shapes) and all(
        shape and shape[-1] <= _SMALL_ACTION for shape in out_shapes
    )
    if signals.token_inputs and signals.image_inputs and attention and small_output:
        # An exported VLA keeps no module names, and a small one has no separate vision tower
        # and language model to find: what it reads (an image and an instruction) and what it
        # writes (an action vector) say it. Scored as an encoder, its actions were judged as
        # embeddings.
        evidence.append(
            f"inputs: image {signals.image_inputs[0].shape} + tokens "
            f"{signals.token_inputs[0].shape}"
            + (f" + state {signals.vector_inputs[0].shape}" if signals.vector_inputs else "")
        )
        evidence.append(f"small output {out_shapes[0]} (an action vector)")
        return found(ArchitectureFamily.VLA, 0.75, evidence)

    if signals.token_inputs and signals.embeddings and attention:
        embedding = signals.embeddings[0]
        evidence.append(f"integer token input {signals.token_inputs[0].name!r}")
        evidence.append(f"token embedding {embedding_text(embedding)}")
        causal = probe_causal(handle, feeds, signals.token_inputs[0].name, reference)
        vocab = embedding.attrs.get("num_embeddings")
        if causal:
            evidence.append(
                "causal: changing the last token leaves earlier positions' outputs unchanged"
            )
            if vocab and out_shapes and out_shapes[0] and out_shapes[0][-1] == vocab:
                evidence.append(f"LM head: output last dimension = vocabulary size {vocab}")
            return found(
                ArchitectureFamily.DECODER_LLM, 0.95 if len(evidence) >= 4 else 0.8, evidence
            )
        if causal is False:
            evidence.append("bidirectional: changing the last token changes earlier positions")
        return found(
            ArchitectureFamily.TRANSFORMER_ENCODER, 0.8 if causal is False else 0.6, evidence
        )

    if attention and signals.patch_embedding is not None:
        evidence.insert(0, f"patch embedding {patch_text(signals.patch_embedding)}")
        return found(ArchitectureFamily.VIT, 0.9, evidence)

    if head.kind is HeadKind.SEQUENCE and signals.image_inputs and signals.convs:
        return found(
            ArchitectureFamily.SEQUENCE_RECOGNIZER,
            0.8,
            [
                head.evidence,
                f"image input {signals.image_inputs[0].shape}, {signals.convs} conv layer(s)",
            ],
        )

    detector = _detector_evidence(structure, out_shapes)
    if head.kind is HeadKind.DETECTOR:
        detector = [*detector, head.evidence]
        if signals.convs and not any("convolutional backbone" in e for e in detector):
            detector.append(f"convolutional backbone ({signals.convs} conv layers)")
    if detector:
        return found(ArchitectureFamily.DETECTOR, 0.85 if len(detector) >= 2 else 0.7, detector)

    if attention and signals.vector_inputs and not signals.image_inputs:
        spec = signals.vector_inputs[0]
        evidence.append(f"continuous input {spec.name!r} {spec.shape} (observations, not tokens)")
        if small_output:
            evidence.append(f"small output {out_shapes[0]} (an action vector)")
            return found(ArchitectureFamily.TRANSFORMER_POLICY, 0.8, evidence)
    if attention:
        return found(ArchitectureFamily.TRANSFORMER_ENCODER, 0.6, evidence)

    conv_share = structure.share(CONV_OPS)
    if signals.convs and signals.image_inputs and len(out_shapes) == 1 and len(out_shapes[0]) == 2:
        evidence = [
            f"{signals.convs} convolution layer(s) holding {conv_share:.0%} of parameters",
            f"image input {signals.image_inputs[0].shape}",
            f"one output {out_shapes[0]} (class scores)",
        ]
        return found(ArchitectureFamily.CNN_CLASSIFIER, 0.9 if conv_share >= 0.3 else 0.7, evidence)

    if head.kind is HeadKind.DENSE_MAP and signals.convs:
        return found(
            ArchitectureFamily.SEGMENTATION,
            0.8,
            [
                head.evidence,
                f"{signals.convs} convolution layer(s), image input {signals.image_inputs[0].shape}"
                if signals.image_inputs
                else f"{signals.convs} convolution layer(s)",
            ],
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
        return found(ArchitectureFamily.MLP_POLICY, 0.85, evidence)

    evidence.append(
        f"no family rule matched: {signals.convs} conv, {signals.linears} linear, "
        f"{signals.attention_blocks} attention block(s), outputs {out_shapes}"
    )
    return found(ArchitectureFamily.OTHER, 0.3, evidence)


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
