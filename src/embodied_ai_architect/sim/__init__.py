"""Closed-loop simulation: randomized MuJoCo scene families, validation, suites, rollouts.

Layout (each module small and single-purpose; MuJoCo / torch are imported inside functions):

* :mod:`.scenes` — parametric MJCF generators (``reach``, ``push``) and the family registry.
* :mod:`.validation` — every generated scene is checked before use (compile, schema,
  interpenetration, actuator ranges, a short random-action stability run).
* :mod:`.suites` — named, versioned benchmark suites (``reach-v0/smoke`` ...) and manifests.
* :mod:`.schemas` — typed observations, actions, trace records and episode results.
* :mod:`.env` — the stepping environment with its safety filter (clamps, workspace limits).
* :mod:`.experts` — scripted expert controllers used to make behaviour-cloning data.
* :mod:`.policy_io` — observation → model-input mapping derived from a ModelHandle's inputs.
* :mod:`.models` / :mod:`.training` — the reference MLP and VLA-style policies.
* :mod:`.rollout` / :mod:`.evaluator` — closed-loop episodes, metrics and ``SimTaskEvaluator``.
* :mod:`.render` — one filmed episode of a policy version (GIF / MP4), for the API and people.
"""

import os

# MuJoCo picks its OpenGL platform when it is imported. With no display (servers, CI, workers)
# GLFW cannot work, and EGL renders offscreen on the CPU here; an explicit setting still wins.
if not os.environ.get("DISPLAY"):
    os.environ.setdefault("MUJOCO_GL", "egl")
