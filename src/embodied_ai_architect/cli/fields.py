"""Request field → CLI flag: how the CLI names the fields core errors talk about.

Core code (agents, pipeline, modelio, schemas) writes hints in field terms, with the field in
backticks (``give one `input_shapes` entry per model input``) and names it in the error's
``field``. REST returns the field name and the LLM tools the argument name as they are; the CLI
renders its own flags through this one table.
"""

from __future__ import annotations

import re

FLAGS: dict[str, str] = {
    "input_shapes": "--input-shape",
    "inputs": "--input",
    "arch": "--arch",
    "arch_kwargs": "--arch-kwargs",
    "config_path": "--config",
    "trust_pickle": "--trust-pickle",
    "calibration_data": "--calibration-data",
    "eval_data": "--eval-data",
    "train_data": "--train-data",
    "test_data": "--test-data",
    "precision": "--precision",
    "target": "--target",
    "constraints": "the constraint flags (--max-size, --max-latency-ms, --max-accuracy-drop, "
    "--target)",
    "max_size_mb": "--max-size",
    "max_latency_ms": "--max-latency-ms",
    "max_accuracy_drop": "--max-accuracy-drop",
    "min_accuracy": "--min-accuracy",
    "objective": "--objective",
    "max_attempts": "--max-attempts",
    "max_wall_seconds": "--max-seconds",
    "model_path": "MODEL",
    "example": "--example",
    "calibration.data_path": "--calibration-data",
    "validation.test_data_path": "--test-data",
    "int8_mode": "--int8-mode",
    "sensitivity_top_k": "--sensitivity",
    "metric": "--metric",
    "fidelity": "--fidelity",
    "run_ids": "RUN_ID arguments",
}

_BACKTICKED = re.compile(r"`([a-z_][a-z0-9_.]*)`")


def flag_for(field: str) -> str:
    """The CLI's name for request field ``field`` (a nested ``load_options.x`` maps as ``x``)."""
    return FLAGS.get(field) or FLAGS.get(field.rsplit(".", 1)[-1]) or field


def in_cli_terms(text: str) -> str:
    """``text`` with every backticked request field replaced by its CLI flag.

    Example:
        >>> in_cli_terms("give one `input_shapes` entry per input")
        'give one --input-shape entry per input'
    """

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        leaf = name.rsplit(".", 1)[-1]
        return flag_for(name) if leaf in FLAGS or name in FLAGS else match.group(0)

    return _BACKTICKED.sub(replace, text)
