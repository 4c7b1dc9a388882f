"""Deployment fixtures: a wide CNN saved as TorchScript, image folders, built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from embodied_ai_architect.testing.assets import save_wide_cnn, write_images

IMAGE_SIZE = 64


@pytest.fixture(scope="session")
def deploy_assets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("deploy_assets")
    return {
        "cnn": save_wide_cnn(root / "wide_cnn.pt", image_size=IMAGE_SIZE),
        "calib": write_images(root / "calib", 24, size=IMAGE_SIZE, seed=1),
        "test": write_images(root / "test", 8, size=IMAGE_SIZE, seed=2),
    }
