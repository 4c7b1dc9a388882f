"""Slow-test fixtures: reference policies trained once per session."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def reach_vla(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reach VLA trained with the default recipe (about 9 minutes on 2 cores), .pt path."""
    from embodied_ai_architect.sim.training import train_policy

    out = tmp_path_factory.mktemp("vla") / "reach-vla.pt"
    return train_policy("reach", "vla", out=out).torchscript_path
