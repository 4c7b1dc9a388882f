"""Importing the package or building the CLI must not import heavy frameworks."""

import subprocess
import sys

HEAVY = ["torch", "onnxruntime", "mujoco", "tensorflow", "openvino", "transformers", "onnx"]


def test_cli_import_is_lean() -> None:
    code = (
        "import sys\n"
        "from embodied_ai_architect.cli.app import build_app\n"
        "build_app()\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]", result.stdout
