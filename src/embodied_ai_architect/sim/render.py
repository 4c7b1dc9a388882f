"""One rendered episode of a policy version on a suite scene: what a person watches.

The same seeded scenes as the suite's evaluation (scene ``k`` of ``reach-v0/smoke`` is the
``k``-th scene the success rate counts), filmed from the 'view' camera and written as a GIF
(Pillow) or MP4 (the ``video`` extra). ``rollout`` jobs of the API run this.

Example:
    >>> episode = render_episode(
    ...     EpisodeRenderRequest(model_path=Path("policy.onnx"), suite="reach-v0/smoke",
    ...                          out_dir=Path("out")))
    >>> episode.success, episode.video          # (True, 'episode.gif') — under out_dir
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from embodied_ai_architect.errors import ConfigError
from embodied_ai_architect.schemas.loading import LoadOptions
from embodied_ai_architect.schemas.progress import ProgressEvent, ProgressSink, null_sink

MEDIA_TYPES = {"gif": "image/gif", "mp4": "video/mp4"}


class EpisodeRenderRequest(BaseModel):
    """Which policy, which scene, which video."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model_path: Path | None = Field(
        default=None, description="Policy file (any format); None: the suite's scripted expert."
    )
    load_options: LoadOptions = Field(default_factory=LoadOptions)
    suite: str = Field(default="reach-v0/smoke", description="Suite id <name>/<split>.")
    scene: int = Field(default=0, ge=0, description="Index of the scene in the suite.")
    format: Literal["gif", "mp4"] = Field(default="gif", description="gif or mp4 (video extra).")
    max_steps: int | None = Field(
        default=None, ge=1, description="Steps before the episode stops (default: the suite's)."
    )
    width: int = Field(default=320, ge=32, le=1280, description="Frame width in pixels.")
    height: int = Field(default=240, ge=32, le=960, description="Frame height in pixels.")
    fps: int = Field(default=20, ge=1, le=60, description="Playback frames per second.")
    out_dir: Path = Field(description="Folder the video is written to.")


class RenderedEpisode(BaseModel):
    """The episode's outcome and its video file (a name inside the request's ``out_dir``)."""

    policy: str
    suite_id: str
    scene: int
    seed: int
    success: bool
    steps: int
    final_distance: float
    total_reward: float
    video: str = Field(description="File name of the video inside the output folder.")
    media_type: str = Field(description="image/gif or video/mp4.")
    frames: int
    width: int
    height: int
    fps: int


def render_episode(
    request: EpisodeRenderRequest, *, sink: ProgressSink = null_sink
) -> RenderedEpisode:
    """Run scene ``request.scene`` of the suite with the policy, film it, write the video."""
    from embodied_ai_architect.sim.env import make_scene
    from embodied_ai_architect.sim.policy_io import ExpertPolicy, HandlePolicy, Policy
    from embodied_ai_architect.sim.rollout import run_episode, write_video
    from embodied_ai_architect.sim.suites import load_suite

    suite = load_suite(request.suite)
    if request.scene >= len(suite.seeds):
        raise ConfigError(
            f"suite {suite.suite_id} has {len(suite.seeds)} scenes; scene {request.scene} "
            "does not exist",
            hint=f"pick a scene from 0 to {len(suite.seeds) - 1}",
            details={"field": "scene"},
        )
    seed = suite.seeds[request.scene]
    sink(ProgressEvent(percent=5, stage="simulation", message=f"{suite.suite_id}: scene {seed}"))
    policy: Policy
    if request.model_path is None:
        policy = ExpertPolicy(suite.family)
    else:
        from embodied_ai_architect.modelio.loader import load_model

        handle = load_model(request.model_path, request.load_options)
        policy = HandlePolicy(handle, name=request.model_path.name)
    sink(ProgressEvent(percent=15, stage="simulation", message=f"rolling out {policy.name}"))
    frames: list = []  # type: ignore[type-arg]
    result = run_episode(
        make_scene(suite.family, seed),
        policy,
        max_steps=request.max_steps or suite.spec.max_steps,
        frames=frames,
        frame_size=(request.width, request.height),
    )
    verdict = "success" if result.success else "failure"
    sink(
        ProgressEvent(
            percent=70,
            stage="simulation",
            message=f"{verdict} in {result.steps} steps; writing {len(frames)} frames",
            data={"success": result.success, "steps": result.steps},
        )
    )
    name = f"episode.{request.format}"
    write_video(frames, request.out_dir / name, fps=request.fps)
    return RenderedEpisode(
        policy=policy.name,
        suite_id=suite.suite_id,
        scene=request.scene,
        seed=seed,
        success=result.success,
        steps=result.steps,
        final_distance=result.final_distance,
        total_reward=result.total_reward,
        video=name,
        media_type=MEDIA_TYPES[request.format],
        frames=len(frames),
        width=request.width,
        height=request.height,
        fps=request.fps,
    )
