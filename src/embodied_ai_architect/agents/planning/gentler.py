"""The accuracy fallback: the next, gentler configuration after a candidate lost too much.

A config field may name, next to its default and search space, the value that buys accuracy for
a little speed (``json_schema_extra={"fallback": True}`` on ``per_channel``). After a candidate
loses too much accuracy, :func:`fallback` moves one such field at a time to that value — every
layer stays quantized — before it keeps whole layers in FP32 (mixed precision), which costs more,
and last lowers an aggressiveness knob of the declared search space.
"""

from __future__ import annotations

from typing import Any

from embodied_ai_architect.agents.optimization.base import TechniqueSpec
from embodied_ai_architect.schemas.profile import ModelProfile
from embodied_ai_architect.schemas.results import StepCandidate

FALLBACK_KEY = "fallback"
FALLBACK_WHY_KEY = "fallback_why"  # optional: the reason the retry names, in the user's terms
_AGGRESSIVE_FIELDS = ("ratio", "sparsity", "amount", "prune")


def gentler_settings(spec: TechniqueSpec) -> dict[str, Any]:
    """Field → the value its fallback moves to, in declaration order."""
    found: dict[str, Any] = {}
    for name, info in spec.config_type.model_fields.items():
        extra = info.json_schema_extra
        if isinstance(extra, dict) and FALLBACK_KEY in extra:
            found[name] = extra[FALLBACK_KEY]
    return found


def next_gentler(spec: TechniqueSpec, config: dict[str, Any]) -> tuple[str, Any, Any] | None:
    """The first declared gentler setting ``config`` does not have yet: (field, from, to)."""
    fields = spec.config_type.model_fields
    for name, value in gentler_settings(spec).items():
        current = config.get(name, fields[name].default)
        if current != value:
            return name, current, value
    return None


def describe(spec: TechniqueSpec, name: str) -> str:
    """Why the retry may help: the field's ``fallback_why``, else its description's first
    sentence."""
    info = spec.config_type.model_fields[name]
    extra = info.json_schema_extra
    if isinstance(extra, dict) and isinstance(why := extra.get(FALLBACK_WHY_KEY), str):
        return why
    return (info.description or name).split(". ")[0].rstrip(".")


def fallback(
    candidate: StepCandidate, spec: TechniqueSpec, profile: ModelProfile | None
) -> tuple[StepCandidate, str] | None:
    """The next, gentler configuration after ``candidate`` lost too much accuracy (or None).

    First the gentler settings the config declares (per-channel scales, full-range weights: every
    layer stays quantized), then mixed precision (keep the most sensitive layers in FP32, one
    more each time), then a lower value of any aggressiveness knob in the declared search space.
    """
    fields = spec.config_type.model_fields
    config: dict[str, Any] = dict(candidate.config)
    if (gentler := next_gentler(spec, config)) is not None:
        name, before, after = gentler
        config[name] = after
        return (
            candidate.model_copy(update={"config": config}),
            f"set {name}={after!r} (was {before!r}: {describe(spec, name)})",
        )
    if "exclude_top_sensitive" in fields:
        current = int(config.get("exclude_top_sensitive") or 0)
        limit = max(8, len(profile.sensitivity) if profile else 0)
        if current < limit:
            config["exclude_top_sensitive"] = current + 1
            return (
                candidate.model_copy(update={"config": config}),
                f"keep the {current + 1} most sensitive layer(s) in FP32 (mixed precision)",
            )
        return None
    if "nodes_to_exclude" in fields and profile is not None and profile.sensitivity:
        ranked = [s.layer for s in sorted(profile.sensitivity, key=lambda s: -s.score)]
        current_nodes = list(config.get("nodes_to_exclude") or [])
        if len(current_nodes) < len(ranked):
            config["nodes_to_exclude"] = ranked[: len(current_nodes) + 1]
            return (
                candidate.model_copy(update={"config": config}),
                f"exclude the most sensitive layers {config['nodes_to_exclude']} from quantization",
            )
        return None
    space = spec.config_type.search_space()
    for name, values in space.items():
        if not any(key in name for key in _AGGRESSIVE_FIELDS):
            continue
        numeric = sorted(v for v in values if isinstance(v, int | float))
        current_value = config.get(name, fields[name].default)
        lower = [v for v in numeric if v < current_value]
        if lower:
            config[name] = lower[-1]
            return (
                candidate.model_copy(update={"config": config}),
                f"lower {name} from {current_value} to {lower[-1]}",
            )
    return None
