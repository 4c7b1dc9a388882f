"""The environment every attempt is recorded with: package versions, threads, git commit, seed."""

from __future__ import annotations

import platform
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version

from embodied_ai_architect.schemas.results import EnvironmentInfo

_PACKAGES = (
    "embodied-ai-architect",
    "torch",
    "onnx",
    "onnxruntime",
    "openvino",
    "nncf",
    "numpy",
    "torch-pruning",
    "optuna",
)


def git_commit() -> str | None:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def collect_environment(*, threads: int, seed: int) -> EnvironmentInfo:
    packages: dict[str, str] = {}
    for name in _PACKAGES:
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            continue
    return EnvironmentInfo(
        packages=packages,
        threads=threads,
        git_commit=git_commit(),
        seed=seed,
        python=sys.version.split()[0],
        platform=platform.platform(),
    )
