"""Request field → CLI flag: how the CLI names the fields core errors talk about.

Core code (agents, pipeline, modelio, schemas) writes hints in field terms, with the field in
backticks (``give one `input_shapes` entry per model input``) and names it in the error's
``field``. REST returns the field name and the LLM tools the argument name as they are; the CLI
renders its own flags through this one table (``FLAGS``), where a command names a field with a
flag of its own (``COMMAND_FLAGS``: ``branes analyze --config`` is a Hugging Face config.json,
while ``branes deploy run --config`` reads a whole request file).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

FLAGS: dict[str, str] = {
    "input_shapes": "--input-shape",
    "inputs": "--input",
    "arch": "--arch",
    "arch_kwargs": "--arch-kwargs",
    # Only `branes analyze` has a flag for it (COMMAND_FLAGS); elsewhere `--config` is another
    # thing (deploy run: the request file), so the other commands name the file itself.
    "config_path": "a config.json next to the weights",
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
    "eval_sim": "--eval-sim",
    "kind": "--kind",
    "limit": "--limit",
}

# Command (its words after `branes`) → fields that command names with a flag of its own.
COMMAND_FLAGS: dict[str, dict[str, str]] = {
    "analyze": {"config_path": "--config"},
}

_BACKTICKED = re.compile(r"`([a-z_][a-z0-9_.]*)`")


def command_of(argv: Sequence[str]) -> str:
    """The ``COMMAND_FLAGS`` key the command line ``argv`` (without ``branes``) runs, or ''.

    Example:
        >>> command_of(["--debug", "analyze", "model.onnx", "--config", "c.json"])
        'analyze'
    """
    words = [arg for arg in argv if not arg.startswith("-")]
    matches = [key for key in COMMAND_FLAGS if key.split() == words[: len(key.split())]]
    return max(matches, key=len, default="")


def flag_for(field: str, command: str = "") -> str:
    """The CLI's name for request field ``field`` in ``command`` (a ``COMMAND_FLAGS`` key; a
    nested ``load_options.x`` maps as ``x``)."""
    table = {**FLAGS, **COMMAND_FLAGS.get(command, {})}
    return table.get(field) or table.get(field.rsplit(".", 1)[-1]) or field


def in_cli_terms(text: str, command: str = "") -> str:
    """``text`` with every backticked request field replaced by its CLI flag in ``command``.

    Example:
        >>> in_cli_terms("give one `input_shapes` entry per input")
        'give one --input-shape entry per input'
        >>> in_cli_terms("or `config_path`", "analyze")
        'or --config'
    """
    known = FLAGS.keys() | COMMAND_FLAGS.get(command, {}).keys()

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        leaf = name.rsplit(".", 1)[-1]
        return flag_for(name, command) if leaf in known or name in known else match.group(0)

    return _BACKTICKED.sub(replace, text)
