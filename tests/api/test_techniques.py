"""`GET /api/v1/techniques[/{name}]`: the registry as the REST face shows it."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from embodied_ai_architect.agents.optimization.base import load_techniques
from embodied_ai_architect.api.app import create_app
from embodied_ai_architect.settings import Settings

from .live import TOKEN, LiveServer


def test_list_names_every_registered_technique_with_its_availability(server: LiveServer) -> None:
    with server.client(auth=False) as client:
        response = client.get("/api/v1/techniques")
    assert response.status_code == 200, response.text
    body = response.json()
    names = {row["name"]: row for row in body["data"]}
    assert sorted(names) == load_techniques().names() and body["count"] == len(names)
    static = names["ort_int8_static"]
    assert static["family"] == "quantization" and static["runtime"] == "onnxruntime"
    assert static["precisions"] == ["int8"] and static["needs_data"] == "calibration"
    assert static["available"] is True and static["availability"] == "available"
    # No CUDA here: the reason says so instead of a bare "no".
    assert names["bnb_int8"]["available"] is False and "CUDA" in names["bnb_int8"]["availability"]


def test_show_gives_manifest_fields_defaults_and_search_candidates(server: LiveServer) -> None:
    with server.client() as client:
        response = client.get("/api/v1/techniques/prune_structured")
    assert response.status_code == 200, response.text
    info = response.json()
    assert info["config_class"] == "PruneStructuredConfig" and info["needs_eager_module"] is True
    assert info["input_frameworks"] == ["torch"] and info["output_framework"] == "torch"
    fields = {f["name"]: f for f in info["fields"]}
    ratio = fields["ratio"]
    assert ratio["default"] == 0.5 and ratio["search"] == [0.25, 0.5, 0.75]
    assert ratio["constraints"] == ["> 0", "< 1"] and ratio["description"]
    assert fields["importance"]["search"] is None and fields["importance"]["default"] == "l2"


def test_unknown_technique_is_a_404_naming_the_available_ones(server: LiveServer) -> None:
    with server.client() as client:
        response = client.get("/api/v1/techniques/ort_int9")
    assert response.status_code == 404
    body = response.json()
    assert body["code"] == "not_found"
    assert (
        "unknown technique 'ort_int9'" in body["message"] and "ort_int8_static" in body["message"]
    )
    assert "/api/v1/techniques" in body["hint"]


def test_reads_need_the_token_when_reads_are_private(tmp_path: Path) -> None:
    settings = Settings(workspace=tmp_path / "ws", api_token=TOKEN, public_reads=False)
    client = TestClient(create_app(settings, start_workers=False))
    for path in ("/api/v1/techniques", "/api/v1/techniques/ort_fp16"):
        assert client.get(path).status_code == 401
        authorized = client.get(path, headers={"Authorization": f"Bearer {TOKEN}"})
        assert authorized.status_code == 200, authorized.text
