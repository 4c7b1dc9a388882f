"""Structural facts the family rules read: attention, patch embedding, token embeddings, input
kinds, the named parts of a VLA, and a causality probe run on the real model."""

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
from embodied_ai_architect.modelio.handle import Feeds, ModelHandle, TorchModelHandle
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


def params_under(structure: ModelStructure, prefix: str) -> int:
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


def patch_text(layer: LayerRecord) -> str:
    return (
        f"'{layer.name}' ({layer.op_type}, kernel {layer.attrs.get('kernel_size')} = "
        f"stride {layer.attrs.get('stride')})"
    )


def embedding_text(layer: LayerRecord) -> str:
    return (
        f"'{layer.name}' ({layer.attrs.get('num_embeddings')} × {layer.attrs.get('embedding_dim')})"
    )
