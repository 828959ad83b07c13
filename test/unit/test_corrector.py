"""The simulated person who corrects a policy, in the world without ROS (PyBullet)."""

import numpy as np
import pytest

from lam_ros.core.profile import load_profile
from lam_ros.core.teleop import TeleopConfig
from lam_ros.sim.corrector import CorrectingOperator
from lam_ros.sim.episode import run_correction_episode
from lam_ros.sim.expert import ScriptedExpert
from lam_ros.sim.tasks import Pose, get_task
from lam_ros.sim.world import TabletopWorld

TASK = "pick_place_random"


@pytest.fixture(scope="module")
def world():
    profile = load_profile("panda_sim")
    world = TabletopWorld(profile, task=TASK)
    yield world
    world.close()


def correct(world, seed, policy_for):
    mapping = TeleopConfig(profile=world.profile.name)
    person = CorrectingOperator(world.profile, get_task(TASK), "careful", seed, 60.0,
                                mapping=mapping)
    return run_correction_episode(world, person, seed, policy_for(world), mapping)


def expert_policy(world):
    expert = ScriptedExpert(world.profile, TASK)
    return lambda q: expert.act(q, world.held_pose(), world.goal_pose())


def test_a_policy_that_does_the_task_is_left_alone(world):
    for seed in (3, 4):
        episode = correct(world, seed, expert_policy)
        assert (episode.outcome, episode.success, episode.takeovers) == ("success", True, 0)
        assert episode.human_s == 0.0 and set(episode.sources) == {"policy"}


def test_a_policy_that_stands_still_is_taken_over_and_the_person_finishes_the_task(world):
    episode = correct(world, 3, lambda w: lambda q: w.command.copy())
    assert (episode.outcome, episode.success) == ("success", True)
    assert episode.takeovers >= 1 and episode.human_s > 5.0
    # The person waits a while before stepping in, and gives the policy the arm back once the
    # object is in hand (then takes over again: this policy never moves).
    first_teleop = episode.sources.index("teleop")
    assert first_teleop >= 25  # 10 Hz: at least 2.5 s of watching
    assert "policy" in episode.sources[first_teleop:]


def test_a_policy_heading_the_wrong_way_is_taken_over(world):
    def drifting(w):
        return lambda q: w.command + np.r_[0.02, np.zeros(len(q) - 1)]

    episode = correct(world, 4, drifting)
    assert episode.takeovers >= 1 and episode.success


def test_a_slow_lift_is_progress_and_a_hand_standing_still_with_the_object_is_not(world):
    # The person's view, made up: the hand holds the cube and lifts it off the table at 1 cm/s
    # for 4 s (across and height to the goal, on the table, do not shrink while lifting), then
    # stands still in the air.
    profile, task = world.profile, get_task(TASK)
    person = CorrectingOperator(profile, task, "careful", 0, 60.0,
                                mapping=TeleopConfig(profile=profile.name))
    kinematics = person.kinematics
    home = np.array(profile.home)
    start, orientation = kinematics.forward(home)
    offset = np.array([0.0, 0.0, task.grasp_above_centre])
    goal = Pose(start - offset + np.array([0.0, 0.25, 0.0]), 0.0)  # as high as the cube starts
    q, took_over_at = home, None
    for k in range(121):  # 12 s at 10 Hz: 4 s lifting, then still
        t = 0.1 * k
        hand = start + np.array([0.0, 0.0, 0.01 * min(t, 4.0)])
        q = kinematics.inverse(hand, orientation, q)
        person.act(t, q, Pose(kinematics.forward(q)[0] - offset, 0.0), goal, False)
        if person.in_control and took_over_at is None:
            took_over_at = t
    # Stalled once the last 3 s (PATIENCE_S) lifted it less than 2 cm: from 5 s on, seen with
    # the person's reaction time.
    assert took_over_at is not None and took_over_at >= 5.0
