"""The model's own memory: a fresh process's peak-RSS increase, which grows with the weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from embodied_ai_architect.agents.evaluation.footprint import measure_footprint
from embodied_ai_architect.errors import EvaluationError
from embodied_ai_architect.schemas.tensors import TensorSpec
from embodied_ai_architect.store.artifacts import sha256_file


def _matmul_onnx(path: Path, rows: int, cols: int) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(
        np.random.default_rng(0).random((rows, cols), dtype=np.float32), "w"
    )
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, rows])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, cols])],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_footprint_follows_the_weights_not_the_process(tmp_path: Path) -> None:
    big = _matmul_onnx(tmp_path / "big.onnx", 2000, 5000)  # 40 MB of weights
    small = _matmul_onnx(tmp_path / "small.onnx", 2000, 100)  # 0.8 MB
    inputs = [TensorSpec(name="x", shape=[1, 2000])]
    big_mb = measure_footprint(big, sha256_file(big), inputs, threads=1)
    small_mb = measure_footprint(small, sha256_file(small), inputs, threads=1)
    assert big_mb >= 35  # at least the weights, resident once loaded
    assert small_mb < big_mb - 30
    with pytest.raises(EvaluationError, match="memory probe"):
        measure_footprint(small, "0" * 64, inputs, threads=1)  # refuses a changed artifact
