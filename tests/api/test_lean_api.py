"""The API server process must stay lean: heavy frameworks load only inside job workers."""

import subprocess
import sys

HEAVY = ["torch", "onnxruntime", "mujoco", "tensorflow", "openvino", "transformers"]


def test_building_the_app_imports_no_heavy_framework(tmp_path) -> None:  # type: ignore[no-untyped-def]
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from embodied_ai_architect.api.app import create_app\n"
        "from embodied_ai_architect.settings import Settings\n"
        f"create_app(Settings(workspace=Path({str(tmp_path)!r})))\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]", result.stdout
