"""Named, versioned benchmark suites (``reach-v0/smoke`` ...) declared in ``sim/suites/*.yaml``.

A suite id is ``<name>/<split>``. Loading a suite generates and validates every scene and
returns a :class:`SuiteManifest` (seeds + per-scene XML hashes) that is written next to
results, so a result can be reproduced exactly and a drifted generator is detected.

Example:
    >>> suite = load_suite("reach-v0/smoke")
    >>> scenes = build_scenes(suite)
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from embodied_ai_architect.errors import ConfigError, SimulationError
from embodied_ai_architect.sim.env import ValidatedScene, make_scene
from embodied_ai_architect.sim.scenes import FAMILIES

# Evaluation scenes start here; training data and calibration use seeds below it, so a policy
# is never scored on a scene it (or its quantizer) has seen.
FIRST_SUITE_SEED = 1000


class SplitSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    seed_start: int = Field(ge=FIRST_SUITE_SEED)
    count: int = Field(gt=0, le=10_000)


class SuiteSpec(BaseModel):
    """One suite file: a scene family, its version and its seed splits."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    family: str
    version: int = Field(ge=0)
    description: str = ""
    max_steps: int = Field(gt=0)
    splits: dict[str, SplitSpec]


class Suite(BaseModel):
    """A resolved suite split: what an evaluation runs."""

    model_config = ConfigDict(frozen=True)

    suite_id: str
    spec: SuiteSpec
    split: str
    seeds: list[int]

    @property
    def family(self) -> str:
        return self.spec.family


class SceneEntry(BaseModel):
    seed: int
    xml_sha256: str


class SuiteManifest(BaseModel):
    """What a result was measured on; equal manifests ⇒ identical scenes."""

    suite_id: str
    family: str
    version: int
    max_steps: int
    scenes: list[SceneEntry]
    mujoco_version: str

    @property
    def digest(self) -> str:
        body = json.dumps([s.model_dump() for s in self.scenes], sort_keys=True)
        return hashlib.sha256(body.encode()).hexdigest()[:16]

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({**self.model_dump(), "digest": self.digest}, indent=2))
        return path


def _suite_files() -> dict[str, str]:
    folder = resources.files("embodied_ai_architect.sim") / "suites"
    return {
        entry.name.removesuffix(".yaml"): entry.read_text()
        for entry in folder.iterdir()
        if entry.name.endswith(".yaml")
    }


def list_suites() -> list[str]:
    """Every ``<name>/<split>`` id available."""
    ids: list[str] = []
    for name in sorted(_suite_files()):
        spec = _load_spec(name)
        ids += [f"{name}/{split}" for split in spec.splits]
    return ids


def _load_spec(name: str) -> SuiteSpec:
    files = _suite_files()
    if name not in files:
        raise ConfigError(
            f"unknown suite {name!r}; available: {', '.join(sorted(files))}",
            hint="suite ids look like reach-v0/smoke; add suites as sim/suites/<name>.yaml",
        )
    try:
        spec = SuiteSpec.model_validate(yaml.safe_load(files[name]))
    except (yaml.YAMLError, ValidationError) as exc:
        raise ConfigError(f"suite file {name}.yaml is invalid: {exc}", hint="fix the YAML") from exc
    FAMILIES.get(spec.family)  # unknown families fail here, listing the available ones
    return spec


def load_suite(suite_id: str, *, limit: int | None = None) -> Suite:
    """Resolve ``name/split`` (``limit`` keeps the first N seeds, for quick checks)."""
    name, _, split = suite_id.partition("/")
    spec = _load_spec(name)
    if split not in spec.splits:
        raise ConfigError(
            f"suite {name!r} has no split {split!r}; available: {', '.join(spec.splits)}",
            hint=f"use e.g. {name}/{next(iter(spec.splits))}",
        )
    chosen = spec.splits[split]
    count = chosen.count if limit is None else min(limit, chosen.count)
    if count < 1:
        raise ConfigError(
            f"limit must be ≥ 1, got {limit}", hint="give a positive `limit`", field="limit"
        )
    seeds = list(range(chosen.seed_start, chosen.seed_start + count))
    return Suite(suite_id=f"{name}/{split}", spec=spec, split=split, seeds=seeds)


def build_scenes(suite: Suite) -> list[ValidatedScene]:
    """Generate + validate every scene; one invalid scene fails the suite (fail fast)."""
    scenes: list[ValidatedScene] = []
    for seed in suite.seeds:
        try:
            scenes.append(make_scene(suite.family, seed))
        except SimulationError as exc:
            raise SimulationError(
                f"suite {suite.suite_id}: {exc.message}",
                hint="the generator produced an invalid scene for a suite seed; this is a bug "
                "in the scene family — run `branes sim validate` for details",
                details=exc.details,
            ) from exc
    return scenes


def manifest_for(suite: Suite, scenes: list[ValidatedScene]) -> SuiteManifest:
    import mujoco

    return SuiteManifest(
        suite_id=suite.suite_id,
        family=suite.family,
        version=suite.spec.version,
        max_steps=suite.spec.max_steps,
        scenes=[SceneEntry(seed=s.seed, xml_sha256=s.report.xml_sha256) for s in scenes],
        mujoco_version=mujoco.__version__,
    )
