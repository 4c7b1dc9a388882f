"""Broken variants of real corpus files: truncated, wrong extension, missing external data. Each
gets a clear error (message + hint, exit 2) or, for a wrong extension, is read by its bytes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cli_runner import Run
from corpus.helpers import MANIFEST, corpus_file

pytestmark = pytest.mark.corpus

SMALL = ["ppocr_cls", "blazeface", "mtcnn_onet_state_dict", "silero_vad_jit", "minilm"]


def _truncated(source: Path, target: Path) -> Path:
    if source.is_dir():  # a HF directory: cut its weights file
        shutil.copytree(source, target)
        weights = target / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
        return target
    target.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    return target


@pytest.mark.parametrize("model_id", SMALL)
def test_a_truncated_file_gets_a_clear_error(model_id: str, branes, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = corpus_file(MANIFEST.model(model_id))
    broken = _truncated(source, tmp_path / f"cut-{source.name}")
    run: Run = branes("analyze", str(broken), "--no-latency", "--sensitivity", "0")
    assert run.returncode == 2, run.stderr
    assert "error:" in run.stderr and "hint:" in run.stderr, run.stderr
    assert "internal error" not in run.stderr and "Traceback" not in run.stderr


@pytest.mark.parametrize(("model_id", "wrong"), [("ppocr_cls", ".tflite"), ("blazeface", ".onnx")])
def test_a_wrong_extension_is_read_by_its_bytes(
    model_id: str, wrong: str, branes, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    entry = MANIFEST.model(model_id)
    renamed = tmp_path / f"model{wrong}"
    shutil.copy(corpus_file(entry), renamed)
    flags = [f"--input={spec}" for spec in entry.inputs]
    run: Run = branes(
        "analyze", str(renamed), "--json", "--no-latency", "--sensitivity", "0", *flags
    )
    assert run.returncode == 0, run.stderr
    assert f'"parameters": {entry.parameters}' in run.stdout


def test_missing_external_data_names_the_file(branes, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import onnx

    model = onnx.load(str(corpus_file(MANIFEST.model("yolov8s_fall"))))
    path = tmp_path / "det.onnx"
    onnx.save(model, str(path), save_as_external_data=True, location="det.onnx.data")
    (tmp_path / "det.onnx.data").unlink()
    run: Run = branes("analyze", str(path), "--no-latency", "--sensitivity", "0")
    assert run.returncode == 2, run.stderr
    assert "det.onnx.data" in run.stderr and "hint:" in run.stderr, run.stderr
