"""Artifacts in S3-compatible storage, by content hash: what lets Ray workers on other nodes
share the store without a shared filesystem.

An artifact's object key is ``<prefix><relative path>``, the same relative path the database
stores (``runs/<scope>/<sha256><suffix>``), so the key names its content: a reader checks the
sha256 of what it downloads against the name, and a writer skips an object that already
exists. The local workspace is then only a cache; :class:`~.artifacts.ArtifactStore` uploads
every artifact it commits and downloads the ones it lacks.

Configured by ``EAA_ARTIFACT_S3_BUCKET`` (+ ``EAA_ARTIFACT_S3_ENDPOINT`` for MinIO, Ceph, ...,
``EAA_ARTIFACT_S3_PREFIX``); credentials come from boto3's usual chain on every node.

    remote = remote_for(settings)          # None when no bucket is configured
    ArtifactStore(settings.workspace, remote=remote).resolve("runs/uploads/<sha>.onnx")
"""

from __future__ import annotations

import os
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from embodied_ai_architect.errors import StoreError
from embodied_ai_architect.settings import Settings

# The environment variables a worker process reads when no remote is passed explicitly.
BUCKET_ENV = "EAA_ARTIFACT_S3_BUCKET"
ENDPOINT_ENV = "EAA_ARTIFACT_S3_ENDPOINT"
PREFIX_ENV = "EAA_ARTIFACT_S3_PREFIX"
DEFAULT_PREFIX = "branes-artifacts/"


class RemoteArtifacts(Protocol):
    """Where committed artifacts also live; keys are workspace-relative paths."""

    description: str

    def put(self, source: Path, relative: str, *, sha256: str) -> None: ...
    def fetch(self, relative: str, into: Path) -> bool: ...
    def delete(self, relative: str) -> None: ...
    def delete_prefix(self, relative_prefix: str) -> None: ...


class S3Artifacts:
    """Artifacts in an S3 bucket (AWS, MinIO, moto, ...). Thread-safe (one boto3 client).

    Args:
        bucket: the bucket; it must exist.
        endpoint: URL of an S3-compatible endpoint; None for AWS.
        prefix: key prefix of every artifact.
    """

    def __init__(self, bucket: str, *, endpoint: str | None = None, prefix: str = DEFAULT_PREFIX):
        self.bucket = bucket
        self.endpoint = endpoint
        self.prefix = prefix
        self.description = f"s3://{bucket}/{prefix}"
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                import boto3

                self._client = boto3.client("s3", endpoint_url=self.endpoint)
            return self._client

    def _failed(self, action: str, relative: str, exc: Exception) -> StoreError:
        from embodied_ai_architect.store.backup.destinations import _s3_reason

        return StoreError(
            f"{action} artifact {relative} in {self.description} failed: {_s3_reason(exc)}",
            hint=f"check that the bucket exists, the endpoint ({ENDPOINT_ENV}) is reachable "
            "from this node and its AWS credentials allow it",
        )

    def _exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise
        return True

    def put(self, source: Path, relative: str, *, sha256: str) -> None:
        key = self.prefix + relative
        try:
            if self._exists(key):  # the key names the content: it is already there
                return
            self.client.upload_file(
                str(source), self.bucket, key, ExtraArgs={"Metadata": {"sha256": sha256}}
            )
        except Exception as exc:
            raise self._failed("uploading", relative, exc) from exc

    def fetch(self, relative: str, into: Path) -> bool:
        """Download to ``into``; False when the bucket has no such artifact."""
        key = self.prefix + relative
        try:
            if not self._exists(key):
                return False
            self.client.download_file(self.bucket, key, str(into))
        except Exception as exc:
            raise self._failed("downloading", relative, exc) from exc
        return True

    def delete(self, relative: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.prefix + relative)
        except Exception as exc:
            raise self._failed("deleting", relative, exc) from exc

    def delete_prefix(self, relative_prefix: str) -> None:
        try:
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(
                Bucket=self.bucket, Prefix=self.prefix + relative_prefix
            ):
                objects = [{"Key": o["Key"]} for o in page.get("Contents", [])]
                if objects:
                    self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": objects})
        except Exception as exc:
            raise self._failed("deleting", relative_prefix + "*", exc) from exc


@lru_cache(maxsize=8)
def _s3(bucket: str, endpoint: str | None, prefix: str) -> S3Artifacts:
    # One client per configuration and process: a boto3 client costs ~10 ms to build.
    return S3Artifacts(bucket, endpoint=endpoint, prefix=prefix)


def remote_for(settings: Settings) -> RemoteArtifacts | None:
    """The remote store ``settings`` configure, or None (artifacts stay in the workspace)."""
    if not settings.artifact_s3_bucket:
        return None
    return _s3(
        settings.artifact_s3_bucket, settings.artifact_s3_endpoint, settings.artifact_s3_prefix
    )


def remote_from_environment() -> RemoteArtifacts | None:
    """The remote store named by ``EAA_ARTIFACT_S3_*`` in this process's environment."""
    bucket = os.environ.get(BUCKET_ENV)
    if not bucket:
        return None
    return _s3(
        bucket, os.environ.get(ENDPOINT_ENV) or None, os.environ.get(PREFIX_ENV, DEFAULT_PREFIX)
    )


def export_to_environment(settings: Settings) -> None:
    """Make ``settings``' artifact store this process's default (a job worker's first step).

    A worker runs one job with the settings it was sent; code that builds an ``ArtifactStore``
    from a workspace path alone (the pipeline, request resolution) then uses the same store.
    """
    values = {
        BUCKET_ENV: settings.artifact_s3_bucket,
        ENDPOINT_ENV: settings.artifact_s3_endpoint,
        PREFIX_ENV: settings.artifact_s3_prefix,
    }
    for name, value in values.items():
        if value:
            os.environ[name] = value
        else:
            os.environ.pop(name, None)
