"""Closed-loop success before / after optimization, side by side on the same seeded scenes.

    MUJOCO_GL=egl .venv/bin/python benchmarks/sim_optimized_policies.py --suite reach-v0/smoke
    MUJOCO_GL=egl .venv/bin/python benchmarks/sim_optimized_policies.py --kind vla \
        --policy .cache/policies/reach-vla.pt

Versions: the reference MLP (TorchScript), its ONNX export, ONNX Runtime dynamic INT8 and a
50 % magnitude-pruned copy. The reference is trained first if it is not cached.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path


def main() -> None:
    import torch

    from embodied_ai_architect.modelio.loader import load_model
    from embodied_ai_architect.sim.evaluator import evaluate_policies
    from embodied_ai_architect.sim.policy_io import HandlePolicy
    from embodied_ai_architect.sim.suites import load_suite
    from embodied_ai_architect.sim.training import reference_policy
    from embodied_ai_architect.sim.variants import int8_dynamic, magnitude_pruned

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--suite", default="reach-v0/smoke")
    parser.add_argument("--kind", default="mlp", choices=["mlp", "vla"])
    parser.add_argument("--prune", type=float, default=0.5)
    parser.add_argument(
        "--policy",
        type=Path,
        default=None,
        help="a trained policy .pt (its .onnx beside it), e.g. .cache/policies/reach-vla.pt; "
        "default: the workspace's reference policy, trained first if missing",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    suite = load_suite(args.suite)
    pt = args.policy or reference_policy(suite.family, args.kind)
    fp32 = load_model(pt)
    onnx = load_model(pt.with_suffix(".onnx"), threads=1)
    with tempfile.TemporaryDirectory() as tmp:
        versions = {
            "torch fp32": fp32,
            "onnx fp32": onnx,
            "onnx int8 (dynamic)": int8_dynamic(onnx, Path(tmp) / "int8.onnx"),  # type: ignore[arg-type]
            f"torch pruned {int(args.prune * 100)} %": magnitude_pruned(fp32, args.prune),
        }
        policies = {name: HandlePolicy(handle, name=name) for name, handle in versions.items()}
        manifest, results = evaluate_policies(suite, policies)
    base = results["torch fp32"].success_rate
    print(f"{suite.suite_id} ({len(suite.seeds)} scenes, manifest {manifest.digest}), {args.kind}")
    print(
        f"{'version':24s} {'success':>8s} {'Δ pp':>6s} {'length':>7s} {'valid':>6s} {'hits':>5s} {'p50 ms':>7s} {'p95 ms':>7s}"
    )
    for name, r in results.items():
        print(
            f"{name:24s} {100 * r.success_rate:7.1f}% {100 * (r.success_rate - base):6.1f} "
            f"{r.mean_episode_length:7.1f} {100 * r.action_validity_rate:5.1f}% "
            f"{r.safety_limit_hits:5d} {r.latency_p50_ms:7.2f} {r.latency_p95_ms:7.2f}"
        )


if __name__ == "__main__":
    main()
