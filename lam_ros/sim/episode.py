"""One scripted episode in the world, without ROS: what `lam-ros sim-check` and tests run."""

from __future__ import annotations

from dataclasses import dataclass

from lam_ros.sim.expert import ScriptedExpert
from lam_ros.sim.world import PickPlaceWorld

MAX_EPISODE_S = 20.0


@dataclass(frozen=True)
class EpisodeResult:
    seed: int
    success: bool
    steps: int
    frames: int  # camera images rendered
    replans: int


def run_expert_episode(world: PickPlaceWorld, expert: ScriptedExpert, seed: int,
                       cameras: tuple[str, ...] = ("front",),
                       max_time_s: float = MAX_EPISODE_S) -> EpisodeResult:
    """Resets to ``seed`` and lets the expert act until success or ``max_time_s`` of sim time.

    Each tick renders ``cameras`` as the policy would see them, so the rates it yields are
    those of a recording run.
    """
    world.reset(seed)
    expert.reset()
    replans_before = expert.replans
    steps = frames = 0
    target, _ = world.target_pose()
    while world.episode_time < max_time_s and not world.success():
        for camera in cameras:
            world.render(camera)
            frames += 1
        cube, _ = world.cube_pose()
        world.apply_command(expert.act(world.joint_positions(), cube, target))
        world.step()
        steps += 1
    return EpisodeResult(seed, world.success(), steps, frames, expert.replans - replans_before)
