"""The VLA's vision: projected object keypoints match the render, and the keypoint module
learns to find an instructed coloured dot (a few seconds of training on synthetic images)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from embodied_ai_architect.sim.env import SimEnv, make_scene
from embodied_ai_architect.sim.models import InstructedKeypoints, TinyVLA, pixel_grid
from embodied_ai_architect.sim.scenes import COLORS
from embodied_ai_architect.sim.schemas import TOKEN_LENGTH


def _colour_centroid(image: np.ndarray, color: str) -> np.ndarray:
    """Where pixels of ``color`` are, in the pixel_grid convention (a sharp soft-argmax)."""
    pixels = torch.from_numpy(image).float().div(255).reshape(-1, 3)
    distance = (pixels - torch.tensor(COLORS[color])).pow(2).sum(-1)
    weights = torch.softmax(-100.0 * distance, dim=0)
    return (weights @ pixel_grid(image.shape[0])).numpy()


@pytest.mark.parametrize("seed", [1000, 1001, 1002])
def test_reach_goal_keypoint_is_where_the_ball_is_rendered(seed: int) -> None:
    scene = make_scene("reach", seed)
    with SimEnv(scene, image_size=64) as env:
        observation = env.reset()
        keypoints = env.object_keypoints()
    assert keypoints.shape == (1, 2) and np.all(np.abs(keypoints) < 1)
    assert observation.image is not None
    seen = _colour_centroid(observation.image, scene.params.goal.color)
    assert np.linalg.norm(seen - keypoints[0]) * 32 < 1.0  # within a pixel of 64


def test_push_keypoints_follow_the_instruction_order() -> None:
    scene = make_scene("push", 1000)
    with SimEnv(scene, image_size=64) as env:
        env.reset()
        keypoints = env.object_keypoints()
        puck, goal = env.puck, env.goal
    assert keypoints.shape == (2, 2)
    assert puck is not None
    # A top camera looking straight down: image coordinates are world x/y scaled alike.
    ratio = keypoints / np.stack([puck, goal])
    assert np.all(ratio > 0) and np.ptp(ratio) < 0.1 * ratio.mean()


def test_pixel_grid_is_pixel_centres_x_right_y_up() -> None:
    grid = pixel_grid(4).reshape(4, 4, 2)
    assert torch.allclose(grid[0, 0], torch.tensor([-0.75, 0.75]))  # top-left
    assert torch.allclose(grid[3, 3], torch.tensor([0.75, -0.75]))  # bottom-right


def test_keypoints_learn_to_find_the_instructed_dot() -> None:
    """Two coloured dots per image; the instruction says which one. 16×16 keeps this fast."""
    generator = torch.Generator().manual_seed(0)
    size, count, dim = 16, 512, 16
    images = torch.full((count, 3, size, size), 0.8)
    where = torch.randint(1, size - 1, (count, 2, 2), generator=generator)  # dot, row/col
    colours = torch.tensor([[0.9, 0.1, 0.1], [0.1, 0.2, 0.95]])
    for index in range(count):
        for dot in range(2):
            row, col = where[index, dot]
            images[index, :, row, col] = colours[dot]
    asked = torch.randint(0, 2, (count,), generator=generator)
    text = torch.zeros(count, TOKEN_LENGTH, dim)
    text[torch.arange(count), 0, asked] = 1.0  # a one-hot "colour word"
    grid = pixel_grid(size).reshape(size, size, 2)
    target = grid[where[torch.arange(count), asked, 0], where[torch.arange(count), asked, 1]]

    torch.manual_seed(0)
    module = InstructedKeypoints(dim, size, channels=8, keypoints=1)
    optimizer = torch.optim.Adam(module.parameters(), lr=3e-3)
    for _step in range(150):
        batch = torch.randint(0, count, (64,), generator=generator)
        _, coords = module(images[batch], text[batch])
        loss = torch.nn.functional.mse_loss(coords[:, 0] * 10, target[batch] * 10)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        tokens, coords = module(images, text)
    assert tokens.shape == (count, 1, dim)
    error_pixels = (coords[:, 0] - target).norm(dim=1) * size / 2
    assert float(error_pixels.median()) < 0.5
    assert float((error_pixels < 1).float().mean()) > 0.95


def test_vla_forward_is_the_action_of_forward_with_keypoints() -> None:
    torch.manual_seed(0)
    model = TinyVLA().eval()
    inputs = model.example_inputs()
    action, coords = model.forward_with_keypoints(*inputs)
    assert torch.equal(model(*inputs), action)
    assert action.shape == (1, 3) and coords.shape == (1, 1, 2)
    assert torch.all(coords.abs() <= 1)
