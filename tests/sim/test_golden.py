"""Golden determinism: same seeds ⇒ same scenes (XML hashes) ⇒ same expert success and lengths.

The expected figures live in tests/sim/golden/expert_smoke.json. When scene generation or the
expert changes on purpose, regenerate them with:

    MUJOCO_GL=egl .venv/bin/python tests/sim/golden/regenerate.py

and explain the change in the commit message.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

GOLDEN = Path(__file__).parent / "golden" / "expert_smoke.json"


def test_expert_figures_match_golden() -> None:
    sys.path.insert(0, str(GOLDEN.parent))
    try:
        from regenerate import compute  # type: ignore[import-not-found]
    finally:
        sys.path.pop(0)
    expected = json.loads(GOLDEN.read_text())
    actual = compute()
    for suite_id, want in expected.items():
        got = actual[suite_id]
        assert got["manifest_digest"] == want["manifest_digest"], f"{suite_id}: scenes drifted"
        assert got["success_rate"] == want["success_rate"], suite_id
        assert got["steps"] == want["steps"], suite_id
    assert expected["reach-v0/smoke"]["success_rate"] >= 0.9
