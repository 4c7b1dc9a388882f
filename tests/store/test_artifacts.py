from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from embodied_ai_architect.errors import InputError, StoreError
from embodied_ai_architect.store.artifacts import ArtifactStore, safe_suffix


def test_put_is_content_addressed_and_deduplicated(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    ref = store.put_bytes(b"hello", scope="job1", suffix=".onnx")
    assert ref.sha256 == hashlib.sha256(b"hello").hexdigest()
    assert ref.path == f"runs/job1/{ref.sha256}.onnx"
    assert store.resolve(ref.path).read_bytes() == b"hello"
    again = store.put_bytes(b"hello", scope="job1", suffix=".onnx")
    assert again == ref
    assert [p.name for p in (tmp_path / "runs" / "job1").iterdir()] == [f"{ref.sha256}.onnx"]


def test_oversized_stream_leaves_no_file(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    with pytest.raises(InputError, match="larger than"):
        store.put_chunks([b"x" * 10, b"y" * 10], scope="uploads", max_bytes=15)
    assert list((tmp_path / "runs" / "uploads").iterdir()) == []


def test_failed_writer_leaves_no_file(tmp_path: Path) -> None:
    def chunks():  # type: ignore[no-untyped-def]
        yield b"partial"
        raise RuntimeError("disk went away")

    with pytest.raises(RuntimeError):
        ArtifactStore(tmp_path).put_chunks(chunks(), scope="uploads")
    assert list((tmp_path / "runs" / "uploads").iterdir()) == []


@pytest.mark.parametrize(
    ("name", "suffix"),
    [
        ("model.onnx", ".onnx"),
        ("../../etc/passwd", ""),
        ("a/b/c.tar.gz", ".tar.gz"),
        ("..\\..\\x.pt", ".pt"),
        ("evil.o/../../x", ""),
        ("n.$(rm)", ""),
    ],
)
def test_filenames_never_become_paths(name: str, suffix: str) -> None:
    assert safe_suffix(name) == suffix


def test_scope_and_resolve_refuse_traversal(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    with pytest.raises(InputError):
        store.put_bytes(b"x", scope="../evil")
    with pytest.raises(StoreError):
        store.resolve("../../etc/passwd")
