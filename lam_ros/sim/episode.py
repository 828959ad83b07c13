"""One episode in the world without ROS, by the scripted expert, the simulated joystick operator,
or a policy with that person watching to correct it: what `lam-ros sim-check` and tests run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lam_ros.core.teleop import TeleopConfig, TeleopMapper
from lam_ros.core.teleop_driver import TeleopDriver
from lam_ros.sim.corrector import CorrectingOperator
from lam_ros.sim.expert import ScriptedExpert
from lam_ros.sim.operator import JoystickOperator
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


@dataclass(frozen=True)
class OperatorEpisode:
    seed: int
    outcome: str  # what the operator pressed at the end: success, failure or discard
    success: bool  # the task's own verdict at the end
    events: tuple[tuple[float, str], ...]  # (sim seconds, teleop episode event)
    steps: int
    commands: int  # ticks on which teleop sent a command


def run_operator_episode(world: TabletopWorld, operator: JoystickOperator, seed: int,
                         mapping: TeleopConfig, wall_limit_steps: int = 2000) -> OperatorEpisode:
    """Resets to ``seed``; the simulated operator's Joy goes through teleop's mapper and driver
    (the logic teleop_node runs) into the world, without ROS, until it pressed its last button."""
    world.reset(seed)
    mapper = TeleopMapper(mapping, world.profile.n_joints)
    driver = TeleopDriver(world.profile, operator.kinematics)
    events: list[tuple[float, str]] = []
    steps = commands = 0
    while not operator.finished and steps < wall_limit_steps:
        now, q = world.episode_time, world.joint_positions()
        driver.on_joint_positions(now, q)
        frame = operator.act(now, q, world.held_pose(), world.goal_pose(), world.success())
        events += [(now, e) for e in mapper.on_joy(frame.axes, frame.buttons, now)]
        step = driver.step(mapper.tick(now), now)
        if step.command is not None:
            world.apply_command(step.command)
            commands += 1
        world.step()
        steps += 1
    return OperatorEpisode(seed, operator.outcome, world.success(), tuple(events), steps,
                           commands)


@dataclass(frozen=True)
class CorrectionEpisode:
    seed: int
    outcome: str
    success: bool
    takeovers: int
    human_s: float  # sim seconds the person drove
    sources: tuple[str, ...]  # who commanded, per step: "policy", "teleop" or ""


def run_correction_episode(world: TabletopWorld, person: CorrectingOperator, seed: int,
                           policy: Callable[[np.ndarray], np.ndarray], mapping: TeleopConfig,
                           wall_limit_steps: int = 2000) -> CorrectionEpisode:
    """Resets to ``seed``; ``policy(q)`` drives the world until the person holds the deadman,
    then teleop's mapper and driver do (as policy_node yields to teleop_node), until the person
    pressed its last button."""
    world.reset(seed)
    mapper = TeleopMapper(mapping, world.profile.n_joints)
    driver = TeleopDriver(world.profile, person.kinematics)
    sources: list[str] = []
    steps = 0
    while not person.finished and steps < wall_limit_steps:
        now, q = world.episode_time, world.joint_positions()
        driver.on_joint_positions(now, q)
        frame = person.act(now, q, world.held_pose(), world.goal_pose(), world.success())
        mapper.on_joy(frame.axes, frame.buttons, now)
        step = driver.step(mapper.tick(now), now)
        if frame.buttons[mapping.deadman_button]:
            command, source = step.command, "teleop" if step.command is not None else ""
        else:
            command, source = policy(q), "policy"
        if command is not None:
            world.apply_command(command)
        sources.append(source)
        world.step()
        steps += 1
    return CorrectionEpisode(seed, person.outcome, world.success(), person.takeovers,
                             person.human_s, tuple(sources))
