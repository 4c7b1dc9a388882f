"""Where backups live: a local directory or an S3-compatible bucket, behind one interface.

Each backup is two objects: ``<name>`` (the zstd-compressed SQLite snapshot, ``.db.zst``, or
PostgreSQL dump, ``.sql.zst``) and
``<name>.manifest.json``. The manifest is written last, so a backup without one is partial.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Protocol

from embodied_ai_architect.settings import Settings
from embodied_ai_architect.store.backup.errors import (
    BackupDestinationError,
    BackupInvalidError,
    BackupNotConfiguredError,
)
from embodied_ai_architect.store.backup.manifest import MANIFEST_SUFFIX, BackupManifest

NAME = re.compile(r"^branes-\d{8}T\d{6}\d{6}Z\.(db|sql)\.zst$")


class Destination(Protocol):
    description: str

    def put(self, source: Path, manifest: BackupManifest) -> str: ...
    def list(self) -> list[str]: ...
    def fetch(self, key: str, into: Path) -> BackupManifest: ...
    def delete(self, key: str) -> None: ...


def destination_for(settings: Settings) -> Destination:
    if settings.backup_s3_bucket:
        return S3Destination(settings)
    if settings.backup_dir is not None:
        return DirectoryDestination(settings.backup_dir)
    raise BackupNotConfiguredError(
        "no backup destination is configured",
        hint="set EAA_BACKUP_S3_BUCKET (and EAA_BACKUP_S3_ENDPOINT for S3-compatible storage) "
        "or EAA_BACKUP_DIR",
    )


def _write_durably(path: Path, data_source: Path | bytes) -> None:
    partial = path.with_name(f".{path.name}.partial")
    try:
        with partial.open("wb") as handle:
            if isinstance(data_source, bytes):
                handle.write(data_source)
            else:
                with data_source.open("rb") as src:
                    while chunk := src.read(1 << 20):
                        handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)  # a full disk must not leave half a backup behind
        raise


class DirectoryDestination:
    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.description = str(self.directory)

    def put(self, source: Path, manifest: BackupManifest) -> str:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            _write_durably(self.directory / manifest.key, source)
            _write_durably(
                self.directory / (manifest.key + MANIFEST_SUFFIX),
                manifest.model_dump_json(indent=2).encode(),
            )
        except OSError as exc:
            raise BackupDestinationError(
                f"writing the backup to {self.directory} failed: {exc.strerror or exc}",
                hint="check that the directory is writable and the disk has space",
            ) from exc
        return manifest.key

    def list(self) -> list[str]:
        if not self.directory.is_dir():
            return []
        return sorted(p.name for p in self.directory.iterdir() if NAME.match(p.name))

    def fetch(self, key: str, into: Path) -> BackupManifest:
        return fetch_local_file(self.directory / key, into)

    def delete(self, key: str) -> None:
        (self.directory / key).unlink(missing_ok=True)
        (self.directory / (key + MANIFEST_SUFFIX)).unlink(missing_ok=True)


def fetch_local_file(path: Path, into: Path) -> BackupManifest:
    """Copy a backup file (and read its manifest) from anywhere on disk."""
    key = path.name
    manifest_path = path.with_name(path.name + MANIFEST_SUFFIX)
    if not manifest_path.is_file():
        raise BackupInvalidError(
            f"backup {key} has no manifest ({manifest_path.name} is missing)",
            hint="the backup is partial, or was made before manifests existed; restore one "
            "listed by `branes db backups` and made by this version",
        )
    manifest = BackupManifest.parse(manifest_path.read_bytes(), key=key)
    _write_durably(into, path)
    return manifest


class S3Destination:
    def __init__(self, settings: Settings):
        assert settings.backup_s3_bucket
        self.bucket = settings.backup_s3_bucket
        self.prefix = settings.backup_s3_prefix
        self.endpoint = settings.backup_s3_endpoint
        self.description = f"s3://{self.bucket}/{self.prefix}"
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("s3", endpoint_url=self.endpoint)
        return self._client

    def _failed(self, action: str, exc: Exception) -> BackupDestinationError:
        return BackupDestinationError(
            f"{action} {self.description} failed: {_s3_reason(exc)}",
            hint="check that the bucket exists, the endpoint (EAA_BACKUP_S3_ENDPOINT) is "
            "reachable and the AWS credentials allow it",
        )

    def put(self, source: Path, manifest: BackupManifest) -> str:
        key = self.prefix + manifest.key
        try:
            self.client.upload_file(
                str(source), self.bucket, key, ExtraArgs={"Metadata": {"sha256": manifest.sha256}}
            )
            self.client.put_object(
                Bucket=self.bucket,
                Key=key + MANIFEST_SUFFIX,
                Body=manifest.model_dump_json(indent=2).encode(),
                ContentType="application/json",
            )
        except Exception as exc:
            raise self._failed("uploading the backup to", exc) from exc
        return key

    def list(self) -> list[str]:
        keys: list[str] = []
        try:
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
                keys += [
                    o["Key"]
                    for o in page.get("Contents", [])
                    if NAME.match(o["Key"].rsplit("/", 1)[-1])
                ]
        except Exception as exc:
            raise self._failed("listing", exc) from exc
        return sorted(keys)

    def fetch(self, key: str, into: Path) -> BackupManifest:
        try:
            raw = self.client.get_object(Bucket=self.bucket, Key=key + MANIFEST_SUFFIX)[
                "Body"
            ].read()
        except Exception as exc:
            if _s3_code(exc) in {"NoSuchKey", "404"}:
                raise BackupInvalidError(
                    f"backup {key} has no manifest ({key + MANIFEST_SUFFIX} is missing)",
                    hint="the backup is partial, or was made before manifests existed; restore "
                    "one made by this version",
                ) from exc
            raise self._failed("reading the manifest from", exc) from exc
        manifest = BackupManifest.parse(raw, key=key)
        try:
            self.client.download_file(self.bucket, key, str(into))
        except Exception as exc:
            raise self._failed("downloading the backup from", exc) from exc
        return manifest

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=key)
            self.client.delete_object(Bucket=self.bucket, Key=key + MANIFEST_SUFFIX)
        except Exception as exc:
            raise self._failed("pruning old backups in", exc) from exc


def _s3_code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def _s3_reason(exc: Exception) -> str:
    # boto3's upload_file wraps the ClientError; the cause carries the S3 error code.
    for candidate in (exc, exc.__cause__, exc.__context__):
        if isinstance(candidate, Exception):
            response = getattr(candidate, "response", None)
            if isinstance(response, dict) and response.get("Error"):
                error = response["Error"]
                return f"{error.get('Code', '')}: {error.get('Message', '')}".strip(": ")
    return f"{type(exc).__name__}: {exc}"
