"""A tiny real CNN checkpoint (state dict + architecture factory) for pipeline runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from embodied_ai_architect.schemas.loading import LoadOptions

ARCH = "embodied_ai_architect.testing.models:SmallCNN"
KWARGS = {"in_channels": 1, "image_size": 8, "num_classes": 10, "width": 8}


def write_tiny_cnn(folder: Path) -> tuple[Path, LoadOptions]:
    import torch

    from embodied_ai_architect.testing.models import SmallCNN

    torch.manual_seed(0)
    model = SmallCNN(**KWARGS)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tiny_cnn.pt"
    torch.save(model.state_dict(), path)
    return path, LoadOptions(arch=ARCH, arch_kwargs=dict(KWARGS))


@pytest.fixture(scope="session")
def make_tiny_cnn():  # type: ignore[no-untyped-def]
    """The checkpoint writer, for module-scoped fixtures."""
    return write_tiny_cnn


@pytest.fixture
def tiny_cnn(tmp_path: Path) -> tuple[Path, LoadOptions]:
    return write_tiny_cnn(tmp_path / "model")
