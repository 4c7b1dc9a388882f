"""Regenerate tests/sim/golden/expert_smoke.json (run when scene generation changes on purpose).

MUJOCO_GL=egl .venv/bin/python tests/sim/golden/regenerate.py
"""

from __future__ import annotations

import json
from pathlib import Path

from embodied_ai_architect.sim.evaluator import evaluate_policies
from embodied_ai_architect.sim.policy_io import ExpertPolicy
from embodied_ai_architect.sim.suites import load_suite

GOLDEN = Path(__file__).with_name("expert_smoke.json")
CASES = {"reach-v0/smoke": None, "push-v0/smoke": 10}  # suite → scene limit (None: all)


def compute() -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {}
    for suite_id, limit in CASES.items():
        suite = load_suite(suite_id, limit=limit)
        manifest, results = evaluate_policies(suite, {"expert": ExpertPolicy(suite.family)})
        result = results["expert"]
        out[suite_id] = {
            "limit": limit,
            "manifest_digest": manifest.digest,
            "success_rate": result.success_rate,
            "steps": [episode.steps for episode in result.per_episode],
        }
    return out


if __name__ == "__main__":
    GOLDEN.write_text(json.dumps(compute(), indent=2) + "\n")
    print(f"wrote {GOLDEN}")
