"""Task-aware fidelity: output heads from shapes, detector / map / embedding / action figures,
and a YOLO-shaped ONNX graph whose class scores are destroyed while its boxes survive."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from embodied_ai_architect.agents.evaluation.accuracy import FidelityEvaluator
from embodied_ai_architect.agents.evaluation.criteria import judge
from embodied_ai_architect.agents.evaluation.heads import classify_outputs
from embodied_ai_architect.agents.evaluation.task_fidelity import (
    action_fidelity,
    dense_map_fidelity,
    detections,
    embedding_fidelity,
    map50,
)
from embodied_ai_architect.errors import ConstraintError
from embodied_ai_architect.modelio.handle import OnnxModelHandle
from embodied_ai_architect.schemas.constraints import Constraints
from embodied_ai_architect.schemas.profile import ArchitectureFamily, HeadKind
from embodied_ai_architect.schemas.results import VersionMetrics

IMAGE = [1, 3, 64, 64]
PICODET_SCORES = [[1, 7600, 10], [1, 1900, 10], [1, 475, 10], [1, 130, 10]]
PICODET_BOXES = [[1, 7600, 32], [1, 1900, 32], [1, 475, 32], [1, 130, 32]]
CLASSES = 3


@pytest.mark.parametrize(
    ("outputs", "inputs", "family", "kind", "layout"),
    [
        ([[1, 84, 2100]], [IMAGE], None, HeadKind.DETECTOR, "boxes_first"),
        ([["batch", 84, 8400]], [["batch", 3, 640, 640]], None, HeadKind.DETECTOR, "boxes_first"),
        ([[1, 25200, 85]], [IMAGE], None, HeadKind.DETECTOR, "anchors_first_objectness"),
        ([[1, 3598, 4], [1, 11, 3598]], [IMAGE], None, HeadKind.DETECTOR, "split_classes_first"),
        ([[1, 100, 4], [1, 100, 92]], [IMAGE], None, HeadKind.DETECTOR, "split"),
        ([[1, 1, 64, 64]], [IMAGE], None, HeadKind.DENSE_MAP, "map"),
        ([[1, 4, 27, 27], [1, 2, 27, 27]], [IMAGE], None, HeadKind.DETECTOR, "split_grid"),
        ([[1, 896, 16], [1, 896, 1]], [IMAGE], None, HeadKind.DETECTOR, "split_regressors"),
        (
            [*PICODET_SCORES, *PICODET_BOXES],
            [[1, 3, 800, 608]],
            None,
            HeadKind.DETECTOR,
            "multilevel",
        ),
        ([[1, 1000]], [IMAGE], "cnn_classifier", HeadKind.CLASS_SCORES, "vector"),
        ([[1, 128, 384]], [[1, 128]], "transformer_encoder", HeadKind.EMBEDDING, "tokens"),
        ([[1, 6]], [[1, 17]], "mlp_policy", HeadKind.ACTION, "vector"),
        ([[1, 197, 384]], [IMAGE], "vit", HeadKind.OTHER, ""),
    ],
)
def test_output_heads_from_shapes(outputs, inputs, family, kind, layout) -> None:  # type: ignore[no-untyped-def]
    head = classify_outputs(outputs, inputs, family)
    assert head.kind is kind, head.evidence
    assert head.layout == layout
    assert head.evidence


class Yolo:
    """A YOLOv8-shaped detector: conv backbone, one output (1, 4 + C, anchors)."""

    @staticmethod
    def build():  # type: ignore[no-untyped-def]
        import torch
        from torch import nn

        class TinyYolo(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.backbone = nn.Sequential(
                    nn.Conv2d(3, 16, 3, stride=2, padding=1),
                    nn.SiLU(),
                    nn.Conv2d(16, 32, 3, stride=2, padding=1),
                    nn.SiLU(),
                )
                self.box = nn.Conv2d(32, 4, 1)
                self.cls = nn.Conv2d(32, CLASSES, 1)

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                f = self.backbone(x)
                _, _, h, w = f.shape
                raw = self.box(f).flatten(2)
                grid_x = torch.arange(w, dtype=x.dtype).repeat(h) * 4 + 2
                grid_y = torch.arange(h, dtype=x.dtype).repeat_interleave(w) * 4 + 2
                cx = grid_x + torch.tanh(raw[:, 0]) * 4
                cy = grid_y + torch.tanh(raw[:, 1]) * 4
                wh = torch.sigmoid(raw[:, 2:]) * 24 + 4
                boxes = torch.cat([cx[:, None], cy[:, None], wh], dim=1)
                scores = torch.sigmoid(self.cls(f).flatten(2) * 3)
                return torch.cat([boxes, scores], dim=1)

            def example_inputs(self) -> tuple[torch.Tensor, ...]:
                return (torch.rand(1, 3, 64, 64),)

        torch.manual_seed(0)
        return TinyYolo().eval()


@pytest.fixture(scope="module")
def yolo_onnx(tmp_path_factory: pytest.TempPathFactory) -> tuple[OnnxModelHandle, Path]:
    from embodied_ai_architect.modelio.export import export_onnx
    from embodied_ai_architect.modelio.torch_io import handle_from_module

    folder = tmp_path_factory.mktemp("yolo")
    handle = export_onnx(handle_from_module(Yolo.build(), name="yolo"), folder / "yolo.onnx")
    return handle, folder


def _corrupt_class_scores(source: Path, target: Path) -> None:
    """Append nodes that keep the box rows and replace the class-score rows by 1 − score
    (what a quantizer that saturates the score branch does: boxes intact, classes wrong)."""
    import onnx
    from onnx import helper

    model = onnx.load(str(source))
    graph = model.graph
    out = graph.output[0]
    original = out.name
    renamed = original + "_raw"
    for node in graph.node:
        node.output[:] = [renamed if o == original else o for o in node.output]
    consts = {
        "c_zero": [0],
        "c_four": [4],
        "c_big": [1 << 30],
        "c_axis": [1],
    }
    for name, value in consts.items():
        graph.initializer.append(helper.make_tensor(name, onnx.TensorProto.INT64, [1], value))
    graph.initializer.append(helper.make_tensor("c_one", onnx.TensorProto.FLOAT, [], [1.0]))
    graph.node.extend(
        [
            helper.make_node("Slice", [renamed, "c_zero", "c_four", "c_axis"], ["boxes"]),
            helper.make_node("Slice", [renamed, "c_four", "c_big", "c_axis"], ["scores"]),
            helper.make_node("Sub", ["c_one", "scores"], ["bad_scores"]),
            helper.make_node("Concat", ["boxes", "bad_scores"], [original], axis=1),
        ]
    )
    onnx.checker.check_model(model)
    onnx.save(model, str(target))


def _metrics(accuracy: float) -> VersionMetrics:
    return VersionMetrics(
        size_bytes=1,
        parameters=1,
        runtime="onnxruntime",
        p50_ms=1,
        p95_ms=1,
        throughput_per_s=1,
        threads=2,
        accuracy=accuracy,
    )


def test_a_yolo_style_onnx_graph_is_detected_as_a_detector(yolo_onnx) -> None:  # type: ignore[no-untyped-def]
    from embodied_ai_architect.agents.analysis.family import detect_family
    from embodied_ai_architect.agents.analysis.onnx_stats import analyze_onnx
    from embodied_ai_architect.schemas.tensors import TensorSpec

    handle, _ = yolo_onnx
    feeds = handle.example_inputs()
    reference = handle.run(feeds)
    outputs = [
        TensorSpec(name=k, shape=list(v.shape), dtype=str(v.dtype)) for k, v in reference.items()
    ]
    detection = detect_family(analyze_onnx(handle), handle, outputs, feeds, reference)
    assert detection.family is ArchitectureFamily.DETECTOR, detection.evidence
    assert detection.head is not None and detection.head.kind is HeadKind.DETECTOR
    assert detection.head.layout == "boxes_first" and detection.head.classes == CLASSES
    assert any("YOLOv8-style head" in e for e in detection.evidence)


def test_destroyed_class_scores_with_intact_boxes_are_rejected(yolo_onnx) -> None:  # type: ignore[no-untyped-def]
    handle, folder = yolo_onnx
    bad_path = folder / "bad.onnx"
    _corrupt_class_scores(handle.onnx_path, bad_path)
    bad = OnnxModelHandle(
        bad_path,
        name="bad",
        source_format=handle.source_format,
        inputs=handle.inputs,
        outputs=handle.outputs,
    )
    rng = np.random.default_rng(0)
    feeds = {handle.inputs[0].name: rng.random((16, 3, 64, 64), dtype=np.float32)}
    # The whole-tensor cosine cannot see it: the boxes dominate.
    plain = FidelityEvaluator(feeds).evaluate(bad, reference=handle)
    assert plain.details["output_0"]["cosine"] > 0.99
    evaluator = FidelityEvaluator(feeds, head=classify_outputs([[1, 7, 256]], [IMAGE]))
    good = evaluator.evaluate(handle, reference=handle)
    assert good.value == pytest.approx(1.0)
    score = evaluator.evaluate(bad, reference=handle)
    figures = score.details["output_0:detections"]
    assert figures["box_iou"] == pytest.approx(1.0)  # the boxes survived
    assert figures["class_agreement"] < 0.5 and figures["map50"] < 0.5
    verdicts = judge(Constraints(max_accuracy_drop=2), _metrics(good.value), _metrics(score.value))
    assert not verdicts[0].passed
    # An explicit bound reads the named figure.
    named = FidelityEvaluator(feeds, head=evaluator.head, metric="map50")
    assert named.evaluate(bad, reference=handle).value == pytest.approx(figures["map50"])


def test_map50_of_identical_and_shifted_detections() -> None:
    boxes = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], dtype=np.float64)
    scores = np.array([[0.9, 0.1], [0.2, 0.8]])
    truth = [detections(boxes, scores, 0.25)]
    assert map50(truth, truth) == pytest.approx(1.0)
    shifted = [detections(boxes + 6, scores, 0.25)]  # IoU 16/184 < 0.5: every box missed
    assert map50(truth, shifted) == pytest.approx(0.0)
    assert map50([detections(boxes, scores * 0.1, 0.25)], truth) is None


def test_dense_map_embedding_and_action_figures() -> None:
    rng = np.random.default_rng(1)
    maps = rng.random((2, 1, 8, 8))
    assert dense_map_fidelity(maps, maps)["iou"] == 1.0
    assert dense_map_fidelity(maps, 1 - maps)["iou"] < 0.2
    # A nearly empty map (a text detector on noise) is compared on the upper half of its range.
    faint = maps * 0.01
    assert dense_map_fidelity(faint, faint)["iou"] == 1.0
    shuffled_map = dense_map_fidelity(faint, faint[:, :, ::-1].copy())
    assert shuffled_map["threshold"] < 0.01 and shuffled_map["iou"] < 0.5
    vectors = rng.normal(size=(20, 16))
    same = embedding_fidelity(vectors, vectors)
    assert same["cosine"] == pytest.approx(1.0) and same["neighbour"] == 1.0
    shuffled = embedding_fidelity(vectors, rng.permutation(vectors))
    assert shuffled["neighbour"] < 0.5
    actions = rng.normal(size=(10, 4))
    assert action_fidelity(actions, actions)["score"] == pytest.approx(1.0)
    assert action_fidelity(actions, actions * 0.5)["score"] == pytest.approx(0.5)


def test_an_accuracy_verdict_names_what_was_scored() -> None:
    base = _metrics(1.0)
    cases = {
        "fidelity": "fidelity to the original 90.00 % < 98.00 %",
        "fidelity_cosine": "cosine fidelity to the original 90.00 % <",
        "top1_accuracy": "top-1 accuracy 90.00 % <",
        None: "accuracy 90.00 % <",
    }
    for metric, start in cases.items():
        low = _metrics(0.9).model_copy(update={"accuracy_metric": metric})
        verdict = judge(Constraints(max_accuracy_drop=2), base, low)[0]
        assert not verdict.passed and verdict.reason.startswith(start), verdict.reason


def test_a_faint_map_passes_a_lossless_conversion_and_fails_a_destroyed_one() -> None:
    # A text detector's probability map on random inputs: noise around 1e-8 with a few peaks
    # at 1e-4; another runtime's FP32 moves every value by ~1e-7 (measured: ORT vs OpenVINO).
    rng = np.random.default_rng(0)
    want = rng.random((2, 1, 64, 64)) * 1e-8
    want[:, 0, 10:14, 20:24] = 1e-4
    lossless = np.clip(want + rng.normal(0, 1.2e-7, want.shape), 0, None)
    # The old cut (the original's top 1 % of pixels) reads that lossless copy as a change.
    top = np.quantile(want, 0.99)
    a, b = want > top, lossless > top
    assert np.logical_and(a, b).sum() / np.logical_or(a, b).sum() < 0.5
    kept = dense_map_fidelity(want, lossless)
    assert kept["score"] == 1.0 and kept["peak_pixels"] == 32
    moved = dense_map_fidelity(want, want[:, :, ::-1, ::-1].copy())  # the peaks moved
    assert moved["score"] == 0.0
    lost = dense_map_fidelity(want, np.zeros_like(want))  # the text vanished
    assert lost["score"] == 0.0
    noisy = dense_map_fidelity(want, want + rng.random(want.shape) * 1e-4)  # peaks everywhere
    assert noisy["score"] < 0.05
    # Nothing above a millionth of a probability in either map: both empty, nothing lost.
    empty = np.zeros_like(want)
    assert dense_map_fidelity(empty, empty + 1e-9)["score"] == 1.0


def test_a_fidelity_metric_the_outputs_lack_is_a_constraint_error() -> None:
    feeds = {"x": np.ones((4, 3), dtype=np.float32)}
    with pytest.raises(ConstraintError, match="unknown fidelity metric"):
        FidelityEvaluator(feeds, metric="bleu")


def test_multilevel_head_decodes_and_catches_swapped_classes() -> None:
    """PicoDet-style outputs: per-level scores and 4 × 8-bin box distributions."""
    hw = [32, 32]
    head = classify_outputs([[1, 16, 3], [1, 4, 3], [1, 16, 32], [1, 4, 32]], [[1, 3, *hw]])
    assert head.layout == "multilevel" and head.levels == [[0, 2, 8], [1, 3, 16]]
    rng = np.random.default_rng(0)
    want = [
        rng.random((6, 16, 3)).astype(np.float32),
        rng.random((6, 4, 3)).astype(np.float32),
        rng.normal(size=(6, 16, 32)).astype(np.float32),
        rng.normal(size=(6, 4, 32)).astype(np.float32),
    ]
    from embodied_ai_architect.agents.evaluation.accuracy import task_parts

    same = task_parts(head, want, want)["output_0:detections"]
    assert same["score"] == pytest.approx(1.0) and same["box_iou"] == pytest.approx(1.0)
    swapped = [w[..., ::-1].copy() if i < 2 else w for i, w in enumerate(want)]
    bad = task_parts(head, want, swapped)["output_0:detections"]
    assert bad["box_iou"] == pytest.approx(1.0) and bad["class_agreement"] < 0.6


def test_grid_head_catches_swapped_scores() -> None:
    """MTCNN P-Net style: box offsets and face / background scores on the same grid."""
    from embodied_ai_architect.agents.evaluation.accuracy import task_parts

    head = classify_outputs([[1, 4, 9, 9], [1, 2, 9, 9]], [IMAGE])
    rng = np.random.default_rng(2)
    boxes = rng.normal(0, 0.2, size=(4, 4, 9, 9)).astype(np.float32)
    scores = rng.normal(size=(4, 2, 9, 9)).astype(np.float32)
    same = task_parts(head, [boxes, scores], [boxes, scores])["output_0:detections"]
    assert same["score"] == pytest.approx(1.0)
    bad = task_parts(head, [boxes, scores], [boxes, scores[:, ::-1].copy()])
    assert bad["output_1:detections"]["class_agreement"] < 0.1


def test_a_per_position_distribution_is_a_sequence_not_a_yolo_head() -> None:
    """PP-OCR's (1, 40, 6625) CTC output has a YOLO-like shape; its rows sum to 1."""
    from embodied_ai_architect.agents.evaluation.accuracy import task_parts
    from embodied_ai_architect.agents.evaluation.task_fidelity import sequence_fidelity

    rng = np.random.default_rng(3)
    logits = rng.normal(size=(2, 40, 300))
    probs = np.exp(logits) / np.exp(logits).sum(axis=2, keepdims=True)
    shapes, inputs = [[1, 40, 300]], [[1, 3, 48, 320]]
    assert classify_outputs(shapes, inputs).kind is HeadKind.DETECTOR  # shape alone misleads
    head = classify_outputs(shapes, inputs, values=[probs])
    assert head.kind is HeadKind.SEQUENCE and "sums to 1" in head.evidence
    assert task_parts(head, [probs], [probs])["output_0:sequence"]["score"] == 1.0
    figures = sequence_fidelity(probs, probs[:, ::-1].copy())
    assert figures["top1_agreement"] < 0.2 and figures["sequence_match"] == 0.0


def test_blazeface_style_regressors_judge_boxes_and_scores() -> None:
    from embodied_ai_architect.agents.evaluation.accuracy import task_parts

    head = classify_outputs([[1, 96, 16], [1, 96, 1]], [IMAGE])
    rng = np.random.default_rng(4)
    regressors = rng.normal(0, 5, size=(3, 96, 16)).astype(np.float32)
    scores = rng.normal(size=(3, 96, 1)).astype(np.float32)
    same = task_parts(head, [regressors, scores], [regressors, scores])["output_0:detections"]
    assert same["score"] == pytest.approx(1.0) and same["box_iou"] == pytest.approx(1.0)
    moved = regressors.copy()
    moved[..., :2] += 40  # every box shifted far off its original
    bad = task_parts(head, [regressors, scores], [moved, scores])["output_0:detections"]
    assert bad["box_iou"] < 0.1 and bad["map50"] < 0.1
