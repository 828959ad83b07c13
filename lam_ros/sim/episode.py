"""One scripted episode in the world, without ROS: what `lam-ros sim-check` and tests run."""

from __future__ import annotations

from dataclasses import dataclass

from lam_ros.sim.expert import ScriptedExpert
from lam_ros.sim.world import TabletopWorld


@dataclass(frozen=True)
class EpisodeResult:
    seed: int
    success: bool
    steps: int
    frames: int  # camera images rendered
    replans: int


def run_expert_episode(world: TabletopWorld, expert: ScriptedExpert, seed: int,
                       cameras: tuple[str, ...] = ("front",)) -> EpisodeResult:
    """Resets to ``seed`` and lets the expert act until success or the task's time limit.

    Each tick renders ``cameras`` as the policy would see them, so the rates it yields are
    those of a recording run.
    """
    world.reset(seed)
    expert.reset()
    replans_before = expert.replans
    steps = frames = 0
    while world.episode_time < world.task.time_limit_s and not world.success():
        for camera in cameras:
            world.render(camera)
            frames += 1
        world.apply_command(expert.act(world.joint_positions(), world.held_pose(),
                                       world.goal_pose()))
        world.step()
        steps += 1
    return EpisodeResult(seed, world.success(), steps, frames, expert.replans - replans_before)
