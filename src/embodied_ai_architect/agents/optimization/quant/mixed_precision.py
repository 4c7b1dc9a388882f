"""Mixed precision: which ONNX nodes stay in FP32 (named by the user or by layer sensitivity)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from embodied_ai_architect.agents.optimization.quant.onnx_graph import (
    WeightNode,
    module_path,
    weight_nodes,
)
from embodied_ai_architect.errors import ConfigError, TechniqueError

if TYPE_CHECKING:
    import onnx

    from embodied_ai_architect.schemas.profile import ModelProfile


def resolve_layer(name: str, candidates: list[WeightNode]) -> list[str]:
    """ONNX node names for a layer name from the user or the Analysis agent.

    Accepted, in this order: an ONNX node name; a torch parameter / initializer name
    (``fc.weight``) or module name whose weight initializer is ``<name>.weight``; a torch module
    path (``layer1.0.conv1``) matched against the exporter's node scopes, prefixes included
    (``blocks.0`` keeps every weight layer of that block).
    """
    exact = [c.name for c in candidates if c.name == name]
    if exact:
        return exact
    by_weight = [c.name for c in candidates if c.weight in (name, f"{name}.weight")]
    if by_weight:
        return by_weight
    return [
        c.name
        for c in candidates
        if (path := module_path(c.name)) and (path == name or path.startswith(name + "."))
    ]


def resolve_exclusions(
    model: onnx.ModelProto,
    *,
    technique: str,
    nodes_to_exclude: list[str],
    exclude_top_sensitive: int,
    profile: ModelProfile | None,
) -> tuple[list[str], list[str]]:
    """(ONNX node names to keep in FP32, human-readable reasons). Unknown names are an error."""
    candidates = weight_nodes(model)
    all_nodes = {node.name for node in model.graph.node}
    excluded: list[str] = []
    reasons: list[str] = []
    for name in nodes_to_exclude:
        if name in all_nodes and name not in {c.name for c in candidates}:
            excluded.append(name)  # a non-weight node (e.g. an activation op) is a valid choice too
            continue
        matched = resolve_layer(name, candidates)
        if not matched:
            sample = ", ".join(c.name for c in candidates[:6])
            raise ConfigError(
                f"{technique}: nodes_to_exclude names {name!r}, which matches no node or layer "
                "of this model",
                hint=f"use ONNX node names or torch module paths; weight nodes here include: "
                f"{sample}{' ...' if len(candidates) > 6 else ''}",
            )
        excluded.extend(matched)
        reasons.append(f"kept {name} in FP32 (requested): {', '.join(matched)}")
    if exclude_top_sensitive:
        if profile is None or not profile.sensitivity:
            raise ConfigError(
                f"{technique}: exclude_top_sensitive={exclude_top_sensitive} needs per-layer "
                "sensitivity from the Analysis agent, but the context has none",
                hint="analyse the model with `sensitivity_top_k` above 0 first (or name the "
                "layers in nodes_to_exclude), or set exclude_top_sensitive=0",
                field="sensitivity_top_k",
            )
        ranked = sorted(profile.sensitivity, key=lambda s: s.score, reverse=True)
        for taken, entry in enumerate(ranked[:exclude_top_sensitive]):
            matched = resolve_layer(entry.layer, candidates)
            if not matched:
                raise ConfigError(
                    f"{technique}: the sensitivity profile names layer {entry.layer!r}, which "
                    "matches no node of this ONNX graph",
                    hint="the profile belongs to another model version; analyse this model again",
                )
            excluded.extend(matched)
            reasons.append(
                f"kept {entry.layer} in FP32 (sensitivity #{taken + 1}, "
                f"{entry.metric} {entry.score:.3g}): {', '.join(matched)}"
            )
    return list(dict.fromkeys(excluded)), reasons


def track_nodes(
    original: onnx.ModelProto, rewritten: onnx.ModelProto, names: list[str], *, technique: str
) -> list[str]:
    """Map node names of the original graph to the preprocessed one (fusions may rename nodes).

    A node keeps its name, or is found again through its weight initializer, which the
    optimizer carries into the fused node.
    """
    if not names:
        return []
    rewritten_names = {node.name for node in rewritten.graph.node}
    weight_of = {w.name: w.weight for w in weight_nodes(original)}
    new_by_weight: dict[str, list[str]] = {}
    for w in weight_nodes(rewritten):
        new_by_weight.setdefault(w.weight, []).append(w.name)
    mapped: list[str] = []
    for name in names:
        if name in rewritten_names:
            mapped.append(name)
        elif name in weight_of and weight_of[name] in new_by_weight:
            mapped.extend(new_by_weight[weight_of[name]])
        else:
            raise TechniqueError(
                f"{technique}: node {name!r} to keep in FP32 disappeared during graph "
                "preprocessing (fused away)",
                hint="set preprocess='none' so the excluded nodes keep their identity",
            )
    return list(dict.fromkeys(mapped))
