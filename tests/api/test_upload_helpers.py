"""The upload helpers both upload routes share: a refused file is not kept unless another row
uses it, and a stored body becomes the same row columns for models and datasets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from embodied_ai_architect.api.uploads import file_fields, removed_if_refused
from embodied_ai_architect.errors import InputError, ModelFormatError
from embodied_ai_architect.settings import Settings
from embodied_ai_architect.store import Database
from embodied_ai_architect.store.artifacts import ArtifactStore
from embodied_ai_architect.store.repo import models, versions


@pytest.fixture
def db(isolated_workspace: Path) -> Iterator[Database]:
    database = Database.from_settings(Settings(workspace=isolated_workspace))
    database.upgrade()
    yield database
    database.dispose()


def test_a_refused_file_is_removed_and_the_error_goes_on(
    db: Database, isolated_workspace: Path
) -> None:
    artifacts = ArtifactStore(isolated_workspace, remote=None)
    ref = artifacts.put_bytes(b"not a model", scope="uploads", suffix=".onnx")
    with (
        pytest.raises(ModelFormatError),
        removed_if_refused(db, artifacts, ref.path, versions.count_using, ModelFormatError),
    ):
        raise ModelFormatError("refused", hint="")
    assert not (isolated_workspace / ref.path).exists()


def test_a_refused_file_another_row_uses_is_kept(db: Database, isolated_workspace: Path) -> None:
    artifacts = ArtifactStore(isolated_workspace, remote=None)
    ref = artifacts.put_bytes(b"shared bytes", scope="uploads", suffix=".onnx")
    with db.session() as session:
        row = models.create_model(session, **file_fields(ref, name="kept.onnx", format="onnx"))
        versions.create_version(
            session, model_id=row.id, artifact_sha256=ref.sha256, artifact_path=ref.path
        )
    with (
        pytest.raises(InputError),
        removed_if_refused(db, artifacts, ref.path, versions.count_using),
    ):
        raise InputError("refused", hint="")
    assert (isolated_workspace / ref.path).exists()


def test_other_errors_keep_the_file(db: Database, isolated_workspace: Path) -> None:
    artifacts = ArtifactStore(isolated_workspace, remote=None)
    ref = artifacts.put_bytes(b"bytes", scope="uploads", suffix=".onnx")
    with (
        pytest.raises(InputError),
        removed_if_refused(db, artifacts, ref.path, versions.count_using, ModelFormatError),
    ):
        raise InputError("not a format error", hint="")
    assert (isolated_workspace / ref.path).exists()


def test_file_fields_take_the_stored_body_and_an_optional_new_path(
    isolated_workspace: Path,
) -> None:
    ref = ArtifactStore(isolated_workspace, remote=None).put_bytes(b"x", scope="datasets")
    assert file_fields(ref, name="a.npz", format="npz") == {
        "name": "a.npz",
        "format": "npz",
        "sha256": ref.sha256,
        "size_bytes": 1,
        "path": ref.path,
    }
    assert file_fields(ref, name="a.npz", format="npz", path="runs/datasets/x.npz")["path"] == (
        "runs/datasets/x.npz"
    )
