"""Gentler settings a technique's config declares for its accuracy fallback.

A config field may name, next to its default and search space, the value that buys accuracy for
a little speed (``json_schema_extra={"fallback": True}`` on ``per_channel``). After a candidate
loses too much accuracy, the planner moves one such field at a time to that value — every layer
stays quantized — before it keeps whole layers in FP32 (mixed precision), which costs more.
"""

from __future__ import annotations

from typing import Any

from embodied_ai_architect.agents.optimization.base import TechniqueSpec

FALLBACK_KEY = "fallback"
FALLBACK_WHY_KEY = "fallback_why"  # optional: the reason the retry names, in the user's terms


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
