"""The version registry of one run, backed by the store (immutable version rows + artifacts).

v0 is the original. A version is registered only after its artifact is completely written
(the artifact store writes temp → fsync → rename) and measured, so an exception inside a
technique can never leave a half version behind.
"""

from __future__ import annotations

import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from embodied_ai_architect.errors import NotFoundError, StoreError
from embodied_ai_architect.modelio.formats import ModelFormat
from embodied_ai_architect.modelio.handle import (
    Framework,
    ModelHandle,
    OnnxModelHandle,
    TorchModelHandle,
)
from embodied_ai_architect.modelio.onnx_io import DECLARED_THREADS, declare_threads
from embodied_ai_architect.schemas.results import ConstraintVerdict, VersionMetrics, VersionRecord
from embodied_ai_architect.store import Database
from embodied_ai_architect.store.artifacts import ArtifactStore, sha256_file
from embodied_ai_architect.store.repo import versions as version_repo


def pack_artifact(handle: ModelHandle, workdir: Path) -> Path:
    """One file holding the whole model: .onnx, a pickled torch module, a .tflite flatbuffer,
    or an IR tarball."""
    workdir.mkdir(parents=True, exist_ok=True)
    if isinstance(handle, OnnxModelHandle):
        if handle.onnx_path.with_suffix(".onnx.data").exists():
            import onnx

            # External data would be lost by a single-file artifact; inline it (models < 2 GB).
            target = Path(tempfile.mkdtemp(dir=workdir)) / "model.onnx"
            onnx.save(onnx.load(str(handle.onnx_path)), str(target))
            return target
        return handle.onnx_path
    if isinstance(handle, TorchModelHandle):
        import torch

        exported = isinstance(handle.module, torch.fx.GraphModule)
        if exported and handle.source_format is ModelFormat.TORCH_EXPORT and handle.path:
            # An exported program's module cannot be pickled; the .pt2 it was loaded from is
            # the artifact (techniques that edit layers never take a graph, so v0 is it).
            target = Path(tempfile.mkdtemp(dir=workdir)) / "model.pt2"
            shutil.copyfile(handle.path, target)
            return target
        target = Path(tempfile.mkdtemp(dir=workdir)) / "model.pt"
        if isinstance(handle.module, torch.jit.ScriptModule):
            # A TorchScript policy (e.g. `branes sim train-policy`) cannot be pickled; the
            # archive carries the input signature and loads back as TorchScript.
            from embodied_ai_architect.modelio.torch_save import save_torchscript

            return save_torchscript(handle.module, target, list(handle.inputs))
        # A pickled module: our own artifact; its sha256 is checked before it is loaded back.
        torch.save(handle.module, target)
        return target
    tflite = getattr(handle, "tflite_path", None)
    if tflite is not None:
        target = Path(tempfile.mkdtemp(dir=workdir)) / "model.tflite"
        shutil.copyfile(tflite, target)
        return target
    if handle.framework is Framework.TENSORFLOW and handle.path is not None:
        # Keras files are one file; a SavedModel folder travels as a tarball.
        source = Path(handle.path)
        folder = Path(tempfile.mkdtemp(dir=workdir))
        if source.is_file():
            target = folder / f"model{source.suffix}"
            shutil.copyfile(source, target)
            return target
        target = folder / "model.savedmodel.tar"
        with tarfile.open(target, "w") as archive:
            archive.add(source, arcname="model")
        return target
    xml = getattr(handle, "xml_path", None)
    if xml is not None:
        target = Path(tempfile.mkdtemp(dir=workdir)) / "model.ir.tar"
        with tarfile.open(target, "w") as archive:
            archive.add(xml, arcname="model.xml")
            archive.add(Path(xml).with_suffix(".bin"), arcname="model.bin")
        return target
    raise StoreError(
        f"cannot store a {handle.framework.value} model version",
        hint="the technique must return an ONNX, torch, TFLite or OpenVINO handle",
    )


class VersionRegistry:
    """Immutable versions of one model: ``v<number>`` ids, artifacts in the artifact store."""

    def __init__(
        self,
        db: Database,
        artifacts: ArtifactStore,
        *,
        model_id: int,
        job_id: str,
        baseline_row: int | None = None,
    ):
        self.db = db
        self.artifacts = artifacts
        self.model_id = model_id
        self.job_id = job_id
        # The stored v0 of an uploaded model, adopted as this run's baseline instead of
        # registering the same model a second time.
        self.baseline_row = baseline_row
        self._records: dict[str, VersionRecord] = {}
        self._row_ids: dict[str, int] = {}
        self._handles: dict[str, ModelHandle] = {}
        # Versions this run created (an adopted upload's v0 belongs to no single run).
        self._own: set[str] = set()

    def register(
        self,
        handle: ModelHandle,
        packed: Path,
        *,
        parent: str | None,
        technique: str | None,
        config: dict[str, Any],
        metrics: VersionMetrics,
    ) -> VersionRecord:
        ref = self.artifacts.put_file(packed, scope=self.job_id)
        with self.db.session() as session:
            if parent is None and self.baseline_row is not None:
                row = version_repo.get_version(session, version_id=self.baseline_row)
            else:
                row = version_repo.create_version(
                    session,
                    model_id=self.model_id,
                    artifact_sha256=ref.sha256,
                    artifact_path=ref.path,
                    parent_id=self._row_ids[parent] if parent else None,
                    technique=technique,
                    config=config,
                    metrics=metrics.model_dump(mode="json"),
                    job_id=self.job_id,
                )
            vid, row_id, created = f"v{row.version}", row.id, row.created_at
            if row.job_id == self.job_id:
                self._own.add(vid)
        record = VersionRecord(
            id=vid,
            parent=parent,
            technique=technique,
            config=config,
            framework=handle.framework.value,
            path=self.artifacts.root / ref.path,
            sha256=ref.sha256,
            metrics=metrics,
            created_at=created,
        )
        self._records[vid] = record
        self._row_ids[vid] = row_id
        self._handles[vid] = handle
        return record

    def row_id(self, vid: str) -> int:
        return self._row_ids[vid]

    def get(self, vid: str) -> VersionRecord:
        try:
            return self._records[vid]
        except KeyError:
            raise NotFoundError(
                f"no version {vid!r}; versions: {', '.join(self._records) or 'none'}",
                hint="list versions with `branes versions list RUN_ID`",
            ) from None

    def handle(self, vid: str) -> ModelHandle:
        if vid not in self._handles:
            record = self.get(vid)
            self._handles[vid] = load_artifact(
                record.path, record.sha256, declared=record.config.get(DECLARED_THREADS)
            )
        return self._handles[vid]

    def verify(self, vid: str) -> bool:
        """True when the stored artifact still has the bytes it was registered with."""
        record = self.get(vid)
        return Path(record.path).is_file() and sha256_file(Path(record.path)) == record.sha256

    def records(self) -> list[VersionRecord]:
        return list(self._records.values())

    def lineage(self, vid: str) -> list[VersionRecord]:
        """The version and its ancestors, newest first (v0 last)."""
        chain = [self.get(vid)]
        while chain[-1].parent is not None:
            chain.append(self.get(chain[-1].parent))
        return chain

    def record_verdicts(self, verdicts: dict[str, list[ConstraintVerdict]]) -> None:
        """Store each version's verdicts on its row, once, when the run ends.

        Only versions this run created: an upload's v0 adopted by several runs (each with its
        own constraints) keeps none, and reads back as "not recorded".
        """
        with self.db.session() as session:
            for vid, judged in verdicts.items():
                if vid in self._own:
                    version_repo.record_verdicts(
                        session,
                        version_id=self._row_ids[vid],
                        verdicts=[v.model_dump(mode="json") for v in judged],
                        judged_metrics=self._records[vid].metrics.model_dump(mode="json"),
                    )

    def replace_metrics(self, vid: str, metrics: VersionMetrics) -> VersionRecord:
        """The record of ``vid`` with re-taken metrics (interleaved timing for the final choice);
        the report reads these. The stored row keeps the figures it was registered with."""
        record = self.get(vid).model_copy(update={"metrics": metrics})
        self._records[vid] = record
        return record


def load_artifact(
    path: Path, sha256: str, *, threads: int | None = None, declared: Any = None
) -> ModelHandle:
    """Load a stored version back, refusing an artifact whose bytes changed since it was stored.

    ``declared``: the intra-op thread count the version declares (its technique config's
    ``intra_op_threads``, from ``ort_threads``); the ONNX handle keeps and runs with it."""
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"artifact is missing: {path}", hint="restore the workspace backup")
    if sha256_file(path) != sha256:
        raise StoreError(
            f"artifact {path.name} was modified after it was stored (sha256 mismatch)",
            hint="versions are immutable; restore the workspace from a backup",
        )
    name = path.name
    if name.endswith(".onnx"):
        from embodied_ai_architect.modelio.onnx_io import load_onnx

        handle = load_onnx(path, input_shapes=None, threads=threads)
        if isinstance(declared, int) and declared > 0:
            return declare_threads(handle, declared)
        return handle
    if name.endswith(".pt2"):
        from embodied_ai_architect.modelio.loader import load_model

        return load_model(path)
    if name.endswith(".pt"):
        from embodied_ai_architect.modelio.loader import load_model
        from embodied_ai_architect.schemas.loading import LoadOptions

        # Trusted: the registry wrote this file and its hash matches the record.
        return load_model(path, LoadOptions(trust_pickle=True))
    if name.endswith(".tflite"):
        from embodied_ai_architect.modelio.loader import load_model

        return load_model(path)
    if name.endswith(".ir.tar"):
        from embodied_ai_architect.modelio.openvino_io import load_openvino

        folder = path.parent / f".{sha256[:16]}-ir"
        if not (folder / "model.xml").exists():
            staging = Path(tempfile.mkdtemp(dir=path.parent))
            with tarfile.open(path) as archive:
                archive.extractall(staging, filter="data")
            shutil.move(staging, folder)
        return load_openvino(folder / "model.xml", threads=threads)
    if name.endswith((".keras", ".h5")):
        from embodied_ai_architect.modelio.loader import load_model

        return load_model(path, threads=threads)
    if name.endswith(".savedmodel.tar"):
        from embodied_ai_architect.modelio.loader import load_model

        folder = path.parent / f".{sha256[:16]}-savedmodel"
        if not folder.exists():
            staging = Path(tempfile.mkdtemp(dir=path.parent))
            with tarfile.open(path) as archive:
                archive.extractall(staging, filter="data")
            shutil.move(staging / "model", folder)
        return load_model(folder, threads=threads)
    raise StoreError(f"cannot load artifact {name}", hint="unsupported artifact type")
