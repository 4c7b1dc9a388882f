"""Silero VAD three ways — TorchScript keeping its state inside, and two ONNX exports taking it as
an input — give the same speech probabilities over a stream when the state is carried between
calls, and the same first call after a reset."""

from __future__ import annotations

import numpy as np
import pytest

from corpus.helpers import MANIFEST, corpus_file
from embodied_ai_architect.modelio.loader import load_model
from embodied_ai_architect.modelio.recurrent import RecurrentRunner
from embodied_ai_architect.modelio.signature import parse_input_overrides
from embodied_ai_architect.schemas.loading import LoadOptions

pytestmark = pytest.mark.corpus

CHUNK, CONTEXT, RATE = 512, 64, 16000


def _runner(model_id: str) -> RecurrentRunner:
    entry = MANIFEST.model(model_id)
    options = LoadOptions(inputs=parse_input_overrides(entry.inputs))
    return RecurrentRunner(load_model(corpus_file(entry), options))


def _stream(runner: RecurrentRunner, audio: np.ndarray, *, context: bool) -> list[float]:
    name = runner.handle.inputs[0].name
    sr = np.array(RATE, np.int64)
    previous = np.zeros((1, CONTEXT), np.float32)
    probabilities = []
    for start in range(0, len(audio), CHUNK):
        chunk = audio[start : start + CHUNK][None]
        # The ONNX files expect the wrapper's 64 samples of context in front of each chunk.
        x = np.concatenate([previous, chunk], axis=1) if context else chunk
        probabilities.append(float(runner.run({name: x, "sr": sr})["output"].ravel()[0]))
        previous = chunk[:, -CONTEXT:]
    return probabilities


def test_state_carried_across_calls_matches_across_exporters() -> None:
    rng = np.random.default_rng(0)
    t = np.arange(CHUNK * 20) / RATE
    tone = 0.3 * np.sin(2 * np.pi * 220 * t) * (t > 0.2)  # silence, then a voiced-like tone
    audio = (tone + 0.01 * rng.standard_normal(t.shape)).astype(np.float32)

    scripted = _runner("silero_vad_jit")
    assert scripted.internal and not scripted.bindings
    reference = _stream(scripted, audio, context=False)
    # The state matters: silence is unlikely speech, the tone raises the probability, and the
    # probability follows its history rather than each chunk alone.
    assert max(reference[:6]) < 0.1 and max(reference[6:]) > 0.5
    for model_id in ("silero_vad_onnx_op15", "silero_vad_onnx_op18"):
        onnx_runner = _runner(model_id)
        assert [b.input for b in onnx_runner.bindings] == ["state"]
        np.testing.assert_allclose(_stream(onnx_runner, audio, context=True), reference, atol=2e-3)
        onnx_runner.reset()
        again = _stream(onnx_runner, audio[: CHUNK * 2], context=True)
        np.testing.assert_allclose(again, reference[:2], atol=2e-3)
