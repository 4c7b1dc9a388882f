"""Deployment targets. Built-in targets register through the ``embodied_ai_architect.targets``
entry points, exactly like third-party plugins; :func:`load_targets` imports them."""

from embodied_ai_architect.agents.deployment.targets.base import (
    TARGETS,
    DeployContext,
    DeploymentTarget,
    TargetCapabilities,
    TargetStatus,
    get_target,
    list_targets,
    load_targets,
    register_target,
)

__all__ = [
    "TARGETS",
    "DeployContext",
    "DeploymentTarget",
    "TargetCapabilities",
    "TargetStatus",
    "get_target",
    "list_targets",
    "load_targets",
    "register_target",
]
