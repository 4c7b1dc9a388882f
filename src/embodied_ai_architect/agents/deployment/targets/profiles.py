"""Device profiles: a target (runtime) plus the limits of one device, e.g. ``jetson:orin-nano``.

``--target`` takes ``cpu`` (this host; every CPU runtime competes by measurement), a target
name (``onnxruntime``, ``openvino``, ``tflite``, ``jetson``) or a device profile. A profile's
limits tighten the user's constraints, never loosen them.

Example:
    >>> resolve_target("jetson:orin-nano").target
    'jetson'
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from embodied_ai_architect.errors import ConfigError

HOST_TARGET = "cpu"  # this host: the CPU runtimes (onnxruntime, openvino, torch) compete


class DeviceProfile(BaseModel):
    """One device: which target runs on it, and what it can hold."""

    model_config = ConfigDict(frozen=True)

    name: str
    target: str = Field(description="The registered target (runtime) used on this device.")
    description: str
    memory_mb: int = Field(gt=0, description="Device memory shared by OS, runtime and model.")
    max_model_mb: float = Field(
        gt=0, description="Largest model artifact it is sensible to ship (a share of memory)."
    )


PROFILES: dict[str, DeviceProfile] = {
    profile.name: profile
    for profile in (
        DeviceProfile(
            name="jetson:orin-nano",
            target="jetson",
            description="NVIDIA Jetson Orin Nano 8 GB (Ampere GPU, 40 TOPS INT8, JetPack 6)",
            memory_mb=8192,
            max_model_mb=1024,
        ),
        DeviceProfile(
            name="jetson:orin-nx",
            target="jetson",
            description="NVIDIA Jetson Orin NX 16 GB (JetPack 6)",
            memory_mb=16384,
            max_model_mb=2048,
        ),
        DeviceProfile(
            name="jetson:agx-orin",
            target="jetson",
            description="NVIDIA Jetson AGX Orin 64 GB (JetPack 6)",
            memory_mb=65536,
            max_model_mb=8192,
        ),
        DeviceProfile(
            name="tflite:rpi5",
            target="tflite",
            description="Raspberry Pi 5, 4× Cortex-A76, 8 GB, LiteRT with XNNPACK",
            memory_mb=8192,
            max_model_mb=512,
        ),
        DeviceProfile(
            name="openvino:intel-nuc",
            target="openvino",
            description="Intel NUC-class mini PC (Core CPU + iGPU), 16 GB, OpenVINO",
            memory_mb=16384,
            max_model_mb=2048,
        ),
    )
}


class ResolvedTarget(BaseModel):
    """What ``--target`` names: the runtime(s) to use and an optional device profile."""

    model_config = ConfigDict(frozen=True)

    name: str
    target: str = Field(description="'cpu' (host runtimes compete) or a registered target.")
    profile: DeviceProfile | None = None


def target_names() -> list[str]:
    from embodied_ai_architect.agents.deployment.targets.base import load_targets

    return [HOST_TARGET, *load_targets().names(), *sorted(PROFILES)]


def resolve_target(name: str) -> ResolvedTarget:
    """Resolve a ``--target`` value; ConfigError listing every valid name when unknown."""
    from embodied_ai_architect.agents.deployment.targets.base import load_targets

    key = name.strip().lower()
    if key == HOST_TARGET:
        return ResolvedTarget(name=key, target=key)
    if key in PROFILES:
        return ResolvedTarget(name=key, target=PROFILES[key].target, profile=PROFILES[key])
    if key in load_targets():
        return ResolvedTarget(name=key, target=key)
    raise ConfigError(
        f"unknown target {name!r}; available: {', '.join(target_names())}",
        hint="`branes deploy list` shows the targets and whether each can run here",
    )
