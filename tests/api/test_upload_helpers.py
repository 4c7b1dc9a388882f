"""The upload helpers both upload routes share: a refused file is not kept unless another row
uses it, and a stored body becomes the same row columns for models and datasets."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from embodied_ai_architect.api.uploads import file_fields, removed_if_refused
from embodied_ai_architect.errors import InputError, ModelFormatError
from embodied_ai_architect.store.artifacts import ArtifactStore


class _Rows:
    """Stands in for the database: ``users`` counts ``rows`` rows pointing at any path."""

    def __init__(self, rows: int) -> None:
        self.rows = rows

    @contextmanager
    def session(self) -> Iterator[None]:
        yield None

    def users(self, session: None, *, path: str) -> int:
        return self.rows


@pytest.mark.parametrize(
    ("raised", "refused", "other_rows", "kept"),
    [
        (ModelFormatError, ModelFormatError, 0, False),  # refused: removed
        (InputError, InputError, 1, True),  # refused, but another row shares the file
        (InputError, ModelFormatError, 0, True),  # not a refusal this check makes
    ],
)
def test_a_refused_file_is_removed_unless_shared_and_the_error_goes_on(
    tmp_path: Path, raised: type[Exception], refused: type[Exception], other_rows: int, kept: bool
) -> None:
    artifacts = ArtifactStore(tmp_path, remote=None)
    ref = artifacts.put_bytes(b"not a model", scope="uploads", suffix=".onnx")
    rows = _Rows(other_rows)
    with (
        pytest.raises(raised),
        removed_if_refused(rows, artifacts, ref.path, rows.users, refused),  # type: ignore[arg-type]
    ):
        raise raised("refused", hint="")
    assert (tmp_path / ref.path).exists() is kept


def test_file_fields_take_the_stored_body_and_an_optional_new_path(tmp_path: Path) -> None:
    ref = ArtifactStore(tmp_path, remote=None).put_bytes(b"x", scope="datasets")
    assert file_fields(ref, name="a.npz", format="npz") == {
        "name": "a.npz",
        "format": "npz",
        "sha256": ref.sha256,
        "size_bytes": 1,
        "path": ref.path,
    }
    renamed = file_fields(ref, name="a.npz", format="npz", path="runs/datasets/x.npz")
    assert renamed["path"] == "runs/datasets/x.npz"
