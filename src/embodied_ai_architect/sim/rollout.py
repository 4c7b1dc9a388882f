"""Closed-loop episodes: policy → safety filter → MuJoCo, with a JSONL trace and video frames."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from embodied_ai_architect.errors import InputError
from embodied_ai_architect.sim.env import SimEnv, ValidatedScene
from embodied_ai_architect.sim.policy_io import Policy
from embodied_ai_architect.sim.schemas import EpisodeResult, StepRecord


def run_episode(
    scene: ValidatedScene,
    policy: Policy,
    *,
    max_steps: int | None = None,
    trace_path: Path | None = None,
    frames: list[np.ndarray] | None = None,
    frame_size: tuple[int, int] = (320, 240),
) -> EpisodeResult:
    """Run one episode; ``frames`` (if given) collects 'view'-camera renders for a video.

    Latency per step covers policy inference and the simulation step (not rendering for a
    video, which is only for people).
    """
    trace = trace_path.open("w") if trace_path is not None else None
    hits: dict[str, int] = {}
    latencies: list[float] = []
    valid = 0
    total_reward = 0.0
    success = False
    try:
        with SimEnv(scene, image_size=policy.image_size, max_steps=max_steps) as env:
            observation = env.reset()
            if frames is not None:
                frames.append(env.render(*frame_size, camera="view"))
            while True:
                started = time.perf_counter()
                raw = policy.act(observation, env)
                outcome = env.step(raw)
                latency = (time.perf_counter() - started) * 1000
                latencies.append(latency)
                filtered = outcome.action
                valid += int(filtered.valid)
                total_reward += outcome.reward
                for hit in filtered.hits:
                    hits[hit] = hits.get(hit, 0) + 1
                if trace is not None:
                    record = StepRecord(
                        step=observation.step,
                        obs_id=observation.obs_id,
                        raw_output=[float(v) if np.isfinite(v) else None for v in filtered.raw],
                        clamped_action=[float(v) for v in filtered.clamped],
                        executed_action=[float(v) for v in filtered.executed],
                        valid=filtered.valid,
                        limit_hits=filtered.hits,
                        reward=outcome.reward,
                        success=outcome.success,
                        contacts=outcome.contacts,
                        latency_ms=latency,
                    )
                    trace.write(record.model_dump_json() + "\n")
                if frames is not None:
                    frames.append(env.render(*frame_size, camera="view"))
                observation = outcome.observation
                success = outcome.success
                if outcome.done:
                    break
            steps = env.step_count
            final_distance = env.task_distance()
    finally:
        if trace is not None:
            trace.close()
    return EpisodeResult(
        family=scene.family,
        seed=scene.seed,
        xml_sha256=scene.report.xml_sha256,
        success=success,
        steps=steps,
        total_reward=total_reward,
        final_distance=final_distance,
        valid_actions=valid,
        limit_hits=hits,
        latencies_ms=latencies,
    )


def write_video(frames: list[np.ndarray], path: Path, *, fps: int = 20) -> Path:
    """Write frames as .gif (Pillow) or .mp4 (imageio + imageio-ffmpeg, the `video` extra)."""
    if not frames:
        raise InputError("no frames to write", hint="run an episode with frames=[] first")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".gif":
        from PIL import Image

        images = [Image.fromarray(frame) for frame in frames]
        images[0].save(
            path, save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0
        )
        return path
    if suffix == ".mp4":
        from embodied_ai_architect.utils.deps import require_package

        imageio = require_package("imageio.v2", extra="video", purpose="mp4 rendering")
        require_package("imageio_ffmpeg", extra="video", purpose="mp4 rendering")
        imageio.mimsave(path, frames, fps=fps)  # type: ignore[attr-defined]
        return path
    raise InputError(
        f"cannot write a video as {suffix or 'a file without extension'!r}",
        hint="use a .gif or .mp4 path",
    )


def write_json(path: Path, payload: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str))
    return path
