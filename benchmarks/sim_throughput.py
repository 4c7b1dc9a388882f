"""Closed-loop throughput: control steps per second (policy inference + safety filter + 10
MuJoCo substeps), for the state MLP and the image+instruction VLA, torch and ONNX Runtime.

    MUJOCO_GL=egl .venv/bin/python benchmarks/sim_throughput.py [--steps 400] [--threads 1]

Uses the cached reference policies (``branes sim train-policy``) when present; otherwise the
same architectures with fresh weights (throughput does not depend on the weights; the
printout says which). The VLA figure includes rendering its 64×64 camera image every step.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def _handles(task: str, kind: str, workdir: Path) -> tuple[list[object], str]:
    import torch

    from embodied_ai_architect.modelio.export import export_onnx
    from embodied_ai_architect.modelio.loader import load_model
    from embodied_ai_architect.sim.env import make_env
    from embodied_ai_architect.sim.models import build_policy
    from embodied_ai_architect.sim.training import (
        default_policy_path,
        policy_signature,
        save_policy,
    )

    path = default_policy_path(task, kind)
    origin = "trained reference"
    if not path.exists():
        origin = "untrained (no cached reference)"
        env = make_env(task, 0)
        obs = env.reset()
        torch.manual_seed(0)
        module = build_policy(
            kind, state_dim=obs.state.size, proprio_dim=obs.proprio.size, act_dim=env.n_joints
        )
        demos = {"state": obs.state[None], "proprio": obs.proprio[None]}
        path = workdir / f"{task}-{kind}.pt"
        save_policy(module, policy_signature(kind, demos), path, meta={"task": task, "kind": kind})
    torch_handle = load_model(path)
    # The ONNX written next to the .pt is what deployment would use; re-export if missing.
    onnx_path = path.with_suffix(".onnx")
    if onnx_path.exists():
        onnx_handle = load_model(onnx_path, threads=1)
    else:
        onnx_handle = export_onnx(torch_handle, workdir / f"{task}-{kind}-bench.onnx")
    return [torch_handle, onnx_handle], origin


def measure(task: str, policy: object, steps: int) -> tuple[float, float]:
    from embodied_ai_architect.sim.env import SimEnv, make_scene

    scenes = [make_scene(task, 1000 + i) for i in range(5)]
    done_steps = 0
    inference = 0.0
    started = time.perf_counter()
    index = 0
    while done_steps < steps:
        with SimEnv(scenes[index % len(scenes)], image_size=policy.image_size) as env:  # type: ignore[attr-defined]
            obs = env.reset()
            while done_steps < steps:
                t0 = time.perf_counter()
                action = policy.act(obs, env)  # type: ignore[attr-defined]
                inference += time.perf_counter() - t0
                outcome = env.step(action)
                obs = outcome.observation
                done_steps += 1
                if outcome.done:
                    break
        index += 1
    elapsed = time.perf_counter() - started
    return steps / elapsed, 1000 * inference / steps


def main() -> None:
    import torch

    from embodied_ai_architect.sim.policy_io import ExpertPolicy, HandlePolicy

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"closed-loop throughput, reach task, {args.steps} control steps each, {args.threads} thread(s)"
    )
    print(f"{'policy':34s} {'steps/s':>9s} {'infer ms/step':>14s}")
    rate, infer = measure("reach", ExpertPolicy("reach"), args.steps)
    print(f"{'scripted expert (no model)':34s} {rate:9.1f} {infer:14.3f}")
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("mlp", "vla"):
            handles, origin = _handles("reach", kind, Path(tmp))
            for handle in handles:
                policy = HandlePolicy(handle)  # type: ignore[arg-type]
                rate, infer = measure("reach", policy, args.steps)
                label = f"{kind} {handle.framework.value} ({origin.split()[0]})"  # type: ignore[attr-defined]
                print(f"{label:34s} {rate:9.1f} {infer:14.3f}")
    np.set_printoptions()


if __name__ == "__main__":
    main()
