"""Example user metrics for ``--metric module:function`` (and the tests of that flag).

A metric receives a runnable model and the evaluation data and returns a float in [0, 1],
higher is better (NNCF's ``validation_fn`` has the same shape).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def label_agreement(model: Any, data: Any) -> float:
    """Top-1 accuracy of the first output against ``data.labels`` (``--eval-data`` with y)."""
    if data.labels is None:
        raise ValueError("label_agreement needs labelled data (an .npz with x and y)")
    logits = model.predict(data.inputs)[0]
    return float((np.asarray(logits).argmax(axis=1) == data.labels).mean())


def output_energy(model: Any, data: Any) -> float:
    """A label-free toy score in (0, 1]: 1 / (1 + mean |output|) (changes when outputs do)."""
    outputs = model.predict(data.inputs)[0]
    return float(1.0 / (1.0 + np.abs(np.asarray(outputs, dtype=np.float64)).mean()))
