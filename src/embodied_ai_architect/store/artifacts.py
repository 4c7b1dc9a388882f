"""Content-addressed artifact files under the workspace, written atomically.

Layout: ``<workspace>/runs/<scope>/<sha256><suffix>`` where ``scope`` is a run (job) id or
``uploads``. A file appears under its final name only once fully written and fsynced
(temp file → fsync → rename → fsync dir), so a crash never leaves a half-written artifact
that the database could point at.

With a remote store (``store/remote.py``: S3-compatible storage, ``EAA_ARTIFACT_S3_BUCKET``)
the workspace is a cache: every committed artifact is uploaded before its reference is
returned (so the database never names an object the bucket lacks), and :meth:`resolve`
downloads a missing one by its hash and checks the sha256 against the name. Workers on other
nodes then need no shared filesystem.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Final

from pydantic import BaseModel, Field

from embodied_ai_architect.errors import InputError, StoreError

if TYPE_CHECKING:
    from embodied_ai_architect.settings import Settings
    from embodied_ai_architect.store.remote import RemoteArtifacts

_SCOPE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SUFFIX = re.compile(r"^(\.[A-Za-z0-9]{1,12}){0,2}$")
_CHUNK = 1024 * 1024
_DIGEST = re.compile(r"^([0-9a-f]{64})")
FROM_ENVIRONMENT: Final = "environment"


class TooLargeError(InputError):
    """An upload or artifact passed its size limit (HTTP 413)."""

    code = "payload_too_large"


class ArtifactRef(BaseModel):
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    path: str = Field(description="Path relative to the workspace.")
    size_bytes: int = Field(ge=0)


def safe_suffix(filename: str) -> str:
    """The extension of a user-supplied filename if harmless, else ''. Never a path."""
    name = Path(filename.replace("\\", "/")).name.lower()
    suffixes = Path(name).suffixes
    for candidate in ("".join(suffixes[-2:]), "".join(suffixes[-1:])):
        if _SUFFIX.match(candidate):
            return candidate
    return ""


class ArtifactStore:
    """Writes and resolves artifacts; paths in the DB are relative to ``root``.

    Args:
        root: the workspace (with a remote store: this node's cache of it).
        remote: where artifacts also live; the default reads ``EAA_ARTIFACT_S3_*`` from the
            environment (a job worker exports its settings there first), None keeps them local.

    Example:
        >>> store = ArtifactStore.from_settings(settings)  # doctest: +SKIP
        >>> ref = store.put_file(Path("model.onnx"), scope="uploads")  # doctest: +SKIP
    """

    def __init__(self, root: Path, remote: RemoteArtifacts | str | None = FROM_ENVIRONMENT):
        from embodied_ai_architect.store.remote import remote_from_environment

        self.root = Path(root)
        self.remote: RemoteArtifacts | None = (
            remote_from_environment() if isinstance(remote, str) else remote
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> ArtifactStore:
        from embodied_ai_architect.store.remote import remote_for

        return cls(settings.workspace, remote=remote_for(settings))

    def _scope_dir(self, scope: str) -> Path:
        if not _SCOPE.match(scope):
            raise InputError(f"invalid artifact scope {scope!r}", hint="use a job id or 'uploads'")
        return self.root / "runs" / scope

    def resolve(self, relative: str) -> Path:
        """Absolute path of a stored artifact; refuses anything escaping the root.

        With a remote store, an artifact missing here is downloaded (and its sha256 checked).
        """
        path = (self.root / relative).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise StoreError(f"artifact path {relative!r} escapes the workspace", hint="bug")
        if not path.is_file() and self.remote is not None:
            self._download(relative, path)
        if not path.is_file():
            raise StoreError(
                f"artifact {relative!r} is missing from the workspace",
                hint="restore the workspace from a backup or re-run the job",
            )
        return path

    def _download(self, relative: str, path: Path) -> None:
        """Fetch ``relative`` from the remote store into the cache, by its content hash."""
        assert self.remote is not None
        match = _DIGEST.match(path.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=".fetch-")
        os.close(fd)
        tmp = Path(name)
        try:
            if not self.remote.fetch(relative, tmp):
                return  # resolve() reports it missing
            if match is not None and sha256_file(tmp) != match.group(1):
                raise StoreError(
                    f"artifact {relative!r} in {self.remote.description} does not match its "
                    "sha256 (the object was changed or damaged)",
                    hint="restore the object from a backup or re-run the job that made it",
                )
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def _commit(self, staged: _StagedFile, scope: str, suffix: str) -> ArtifactRef:
        target_dir = self._scope_dir(scope)
        digest = staged.digest.hexdigest()
        final = target_dir / f"{digest}{suffix}"
        if final.exists():  # same content already stored: dedupe
            staged.path.unlink(missing_ok=True)
        else:
            os.replace(staged.path, final)
            fsync_dir(target_dir)
        relative = str(final.relative_to(self.root))
        if self.remote is not None:  # before the reference exists, so the DB never outruns it
            self.remote.put(final, relative, sha256=digest)
        return ArtifactRef(sha256=digest, path=relative, size_bytes=staged.size)

    @contextlib.contextmanager
    def _staging(self, scope: str, max_bytes: int | None) -> Iterator[_StagedFile]:
        """A temp file in the scope's folder, fsynced on success and removed on any error."""
        target_dir = self._scope_dir(scope)
        target_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=target_dir, prefix=".tmp-")
        staged = _StagedFile(Path(name), max_bytes)
        try:
            with os.fdopen(fd, "wb") as staged.handle:
                yield staged
                staged.handle.flush()
                os.fsync(staged.handle.fileno())
        except BaseException:
            staged.path.unlink(missing_ok=True)
            raise

    def put_chunks(
        self, chunks: Iterable[bytes], *, scope: str, suffix: str = "", max_bytes: int | None = None
    ) -> ArtifactRef:
        with self._staging(scope, max_bytes) as staged:
            for chunk in chunks:
                staged.write(chunk)
        return self._commit(staged, scope, suffix)

    async def put_stream(
        self,
        chunks: AsyncIterator[bytes],
        *,
        scope: str,
        suffix: str = "",
        max_bytes: int | None = None,
    ) -> ArtifactRef:
        """Async variant for uploads: streams to disk, stops as soon as ``max_bytes`` is passed."""
        with self._staging(scope, max_bytes) as staged:
            async for chunk in chunks:
                staged.write(chunk)
        return self._commit(staged, scope, suffix)

    def put_file(self, source: Path, *, scope: str) -> ArtifactRef:
        """Copy a finished file (e.g. a technique's output) into the store."""
        source = Path(source)
        if source.is_dir():
            raise InputError(f"{source} is a directory", hint="archive it or store its files")
        with source.open("rb") as handle:
            return self.put_chunks(
                iter(lambda: handle.read(_CHUNK), b""), scope=scope, suffix=safe_suffix(source.name)
            )

    def put_bytes(self, data: bytes, *, scope: str, suffix: str = "") -> ArtifactRef:
        return self.put_chunks([data], scope=scope, suffix=suffix)

    def remove(self, relative: str) -> None:
        """Delete one stored file (no-op if it is already gone or outside the store)."""
        path = (self.root / relative).resolve()
        if not path.is_relative_to(self.root.resolve()):
            return
        if path.is_file():
            path.unlink()
        if self.remote is not None:
            self.remote.delete(relative)

    def remove_scope(self, scope: str) -> None:
        directory = self._scope_dir(scope)
        shutil.rmtree(directory, ignore_errors=True)
        if self.remote is not None:
            self.remote.delete_prefix(str(directory.relative_to(self.root)) + "/")


class _StagedFile:
    """A temp file being written: hashed and counted chunk by chunk, size limit checked."""

    def __init__(self, path: Path, max_bytes: int | None):
        self.path = path
        self.max_bytes = max_bytes
        self.digest = hashlib.sha256()
        self.size = 0
        self.handle: BinaryIO

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.max_bytes is not None and self.size > self.max_bytes:
            raise TooLargeError(
                f"upload is larger than the limit of {self.max_bytes} bytes",
                hint="raise EAA_MAX_MODEL_BYTES if files this big are expected",
                details={"max_bytes": self.max_bytes},
            )
        self.digest.update(chunk)
        self.handle.write(chunk)


def fsync_dir(directory: Path) -> None:
    """Flush a folder's entries (a rename is durable only once its folder is synced)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()
