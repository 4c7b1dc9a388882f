"""Contract over every registered technique (ours and third-party plugins alike).

Each one must: build its config from defaults, round-trip it through JSON, describe every field,
accept every declared search candidate, declare a valid manifest, and have a test of its own
(a test file elsewhere that names it).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from embodied_ai_architect.agents.optimization.base import TechniqueSpec, load_techniques

REGISTRY = load_techniques()
NAMES = REGISTRY.names()
TESTS = Path(__file__).resolve().parents[2]


def test_registry_is_populated_from_entry_points() -> None:
    for name in (
        "ort_int8_dynamic",
        "ort_int8_static",
        "ort_fp16",
        "ort_int4_rtn",
        "ort_int4_gptq",
        "openvino_ir",
        "openvino_int8",
        "torch_int8_dynamic",
        "bnb_int8",
        "bnb_nf4",
    ):
        assert name in REGISTRY


@pytest.mark.parametrize("name", NAMES)
def test_config_defaults_round_trip_through_json(name: str) -> None:
    spec: TechniqueSpec = REGISTRY.get(name)
    config = spec.config_type()
    restored = spec.config_type.model_validate_json(config.model_dump_json())
    assert restored == config
    assert config.model_config.get("frozen") is True
    schema = spec.config_type.model_json_schema()
    undocumented = [
        field for field, info in spec.config_type.model_fields.items() if not info.description
    ]
    assert not undocumented, f"{name}: fields without a description: {undocumented}"
    assert set(schema["properties"]) == set(spec.config_type.model_fields)


@pytest.mark.parametrize("name", NAMES)
def test_search_candidates_are_valid_configs(name: str) -> None:
    spec = REGISTRY.get(name)
    for field, candidates in spec.config_type.search_space().items():
        assert candidates, f"{name}.{field}: empty search list"
        for value in candidates:
            spec.config_type(**{field: value})


@pytest.mark.parametrize("name", NAMES)
def test_manifest_and_availability(name: str) -> None:
    spec = REGISTRY.get(name)
    assert spec.manifest.description and spec.manifest.input_frameworks
    ok, reason = spec.availability()
    assert isinstance(ok, bool) and reason
    if spec.manifest.requires and spec.manifest.extra is None:
        # without an extra the requirements must be core dependencies, importable here
        assert ok or spec.manifest.needs_cuda, f"{name}: {reason}"


def _test_sources() -> str:
    own = Path(__file__).resolve()
    return "\n".join(
        path.read_text(encoding="utf-8", errors="ignore")
        for path in TESTS.rglob("test_*.py")
        if path.resolve() != own
    )


def test_every_technique_has_a_test_of_its_own() -> None:
    sources = _test_sources()
    missing = [name for name in NAMES if f'"{name}"' not in sources and f"'{name}'" not in sources]
    assert not missing, (
        f"techniques without a test naming them: {missing}; add a test that applies each one"
    )
