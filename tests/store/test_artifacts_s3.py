"""The artifact store on a real S3 endpoint (moto_server): every committed artifact is in the
bucket under its hash before its reference exists; another node's store (another workspace)
resolves it by downloading and checking the sha256; removal reaches the bucket."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from embodied_ai_architect.errors import StoreError
from embodied_ai_architect.settings import Settings
from embodied_ai_architect.store.artifacts import ArtifactStore
from embodied_ai_architect.store.remote import S3Artifacts, export_to_environment, remote_for
from s3_server import TEST_CREDENTIALS, create_bucket, moto_server


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with moto_server(tmp_path_factory.mktemp("moto") / "moto.log") as url:
        yield url


@pytest.fixture
def remote(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> S3Artifacts:
    for name, value in TEST_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    bucket = f"eaa-{uuid.uuid4().hex[:12]}"
    create_bucket(endpoint, bucket)
    return S3Artifacts(bucket, endpoint=endpoint)


def _object(remote: S3Artifacts, relative: str) -> bytes:
    body: bytes = remote.client.get_object(Bucket=remote.bucket, Key=remote.prefix + relative)[
        "Body"
    ].read()
    return body


def test_put_uploads_by_hash_and_another_node_resolves_it(
    remote: S3Artifacts, tmp_path: Path
) -> None:
    data = b"model bytes " * 1000
    here = ArtifactStore(tmp_path / "node-a", remote=remote)
    ref = here.put_bytes(data, scope="uploads", suffix=".onnx")
    assert ref.path == f"runs/uploads/{hashlib.sha256(data).hexdigest()}.onnx"
    assert _object(remote, ref.path) == data
    head = remote.client.head_object(Bucket=remote.bucket, Key=remote.prefix + ref.path)
    assert head["Metadata"]["sha256"] == ref.sha256

    there = ArtifactStore(tmp_path / "node-b", remote=remote)
    assert not (there.root / ref.path).exists()
    path = there.resolve(ref.path)  # downloaded into node b's cache
    assert path == (tmp_path / "node-b" / ref.path).resolve() and path.read_bytes() == data
    assert not list(path.parent.glob(".fetch-*"))
    # Stored again elsewhere: same key, nothing uploaded twice, same reference.
    assert there.put_bytes(data, scope="uploads", suffix=".onnx") == ref


def test_a_tampered_or_missing_object_is_refused(remote: S3Artifacts, tmp_path: Path) -> None:
    ref = ArtifactStore(tmp_path / "a", remote=remote).put_bytes(b"v1", scope="job1", suffix=".pt")
    remote.client.put_object(Bucket=remote.bucket, Key=remote.prefix + ref.path, Body=b"evil")
    other = ArtifactStore(tmp_path / "b", remote=remote)
    with pytest.raises(StoreError, match="does not match its sha256"):
        other.resolve(ref.path)
    assert not (tmp_path / "b" / ref.path).exists() and not list(
        (tmp_path / "b" / "runs" / "job1").glob(".fetch-*")
    )
    with pytest.raises(StoreError, match="missing from the workspace"):
        other.resolve("runs/job1/" + "0" * 64 + ".pt")


def test_remove_and_remove_scope_reach_the_bucket(remote: S3Artifacts, tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "a", remote=remote)
    kept = store.put_bytes(b"kept", scope="uploads")
    one = store.put_bytes(b"one", scope="job2")
    store.put_bytes(b"two", scope="job2")
    store.remove(kept.path)
    with pytest.raises(StoreError, match="missing"):
        ArtifactStore(tmp_path / "b", remote=remote).resolve(kept.path)
    store.remove_scope("job2")
    listed = remote.client.list_objects_v2(Bucket=remote.bucket, Prefix=remote.prefix)
    assert listed.get("KeyCount", 0) == 0
    with pytest.raises(StoreError, match="missing"):
        ArtifactStore(tmp_path / "c", remote=remote).resolve(one.path)


def test_an_unreachable_bucket_is_a_store_error_and_nothing_is_referenced(
    endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in TEST_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    missing = S3Artifacts(f"no-such-{uuid.uuid4().hex[:8]}", endpoint=endpoint)
    with pytest.raises(StoreError, match="NoSuchBucket"):
        ArtifactStore(tmp_path / "a", remote=missing).put_bytes(b"x", scope="uploads")


def test_settings_and_the_worker_environment_name_the_same_store(
    remote: S3Artifacts, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(
        workspace=tmp_path / "ws",
        artifact_s3_bucket=remote.bucket,
        artifact_s3_endpoint=remote.endpoint,
    )
    assert remote_for(Settings(workspace=tmp_path / "ws")) is None
    from_settings = ArtifactStore.from_settings(settings).remote
    assert from_settings is remote_for(settings)  # one client per configuration
    for name in ("EAA_ARTIFACT_S3_BUCKET", "EAA_ARTIFACT_S3_ENDPOINT", "EAA_ARTIFACT_S3_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    assert ArtifactStore(tmp_path / "ws").remote is None
    export_to_environment(settings)  # what a job worker does first
    assert ArtifactStore(tmp_path / "ws").remote is from_settings
    export_to_environment(Settings(workspace=tmp_path / "ws", artifact_s3_bucket=None))
    assert ArtifactStore(tmp_path / "ws").remote is None
