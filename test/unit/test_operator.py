"""The simulated joystick operator, through teleop's own mapper and driver into the real
simulator (no ROS): it finishes tasks, and its Joy messages look like a person's on a pad."""

import numpy as np
import pytest

from lam_ros.core.profile import load_profile
from lam_ros.core.teleop import STOP_FAILURE, STOP_SUCCESS, TeleopConfig
from lam_ros.kinematics import Kinematics
from lam_ros.sim.episode import run_operator_episode
from lam_ros.sim.operator import N_AXES, N_BUTTONS, STYLES, TRIGGER_REST, JoystickOperator
from lam_ros.sim.tasks import get_task
from lam_ros.sim.world import TabletopWorld


@pytest.fixture(scope="module")
def scene():
    profile = load_profile("panda_sim")
    task = get_task("pick_place_random")
    world = TabletopWorld(profile, task)
    yield profile, task, world, Kinematics(profile), TeleopConfig(profile=profile.name)
    world.close()


class Recording(JoystickOperator):
    """The operator, keeping every Joy frame it sent."""

    def act(self, *args, **kwargs):
        frame = super().act(*args, **kwargs)
        self.frames = [*getattr(self, "frames", []), frame]
        return frame


def episode(scene, style, seed, time_limit_s=60.0, world=None):
    profile, task, shared_world, kinematics, mapping = scene
    world = world or shared_world
    operator = Recording(profile, task, style, seed, time_limit_s, kinematics, mapping)
    return operator, run_operator_episode(world, operator, seed, mapping)


@pytest.mark.parametrize("style", sorted(STYLES))
def test_every_style_finishes_the_task_through_teleop(scene, style):
    for seed in (1, 2):
        operator, result = episode(scene, style, seed)
        if result.outcome == "discard":
            continue  # a person throws an episode away now and then
        assert result.outcome == "success" and result.success, (style, seed, operator.phase)
        assert [e for _, e in result.events] == ["start", STOP_SUCCESS]


def test_joy_messages_follow_the_pad_and_a_person(scene):
    operator, result = episode(scene, "hurried", seed=3)
    mapping, style = scene[4], operator.style
    frames = operator.frames
    axes = np.array([f.axes for f in frames])
    buttons = np.array([f.buttons for f in frames])
    assert axes.shape[1] == N_AXES and buttons.shape[1] == N_BUTTONS
    assert np.all(axes[:, 4:6] == TRIGGER_REST)  # triggers untouched
    sticks = axes[:, [mapping.axis_x, mapping.axis_y, mapping.axis_z, mapping.axis_yaw]]
    moving = np.any(sticks != 0, axis=1)
    assert np.all(buttons[moving, mapping.deadman_button] == 1)  # sticks only with the deadman
    assert np.max(np.sum(sticks != 0, axis=1)) <= style.max_axes
    assert np.all(np.abs(sticks) <= 1.0)
    # Idle at first: START comes before any motion, and the first motion after a pause.
    first_move = int(np.argmax(moving))
    start = int(np.argmax(buttons[:, mapping.start_button]))
    assert 0 < start < first_move
    # Every press is one message down, then up (teleop acts on rising edges).
    episode_buttons = buttons[:, [mapping.start_button, mapping.stop_success_button,
                                  mapping.gripper_close_button, mapping.gripper_open_button]]
    assert not np.any(episode_buttons[1:] & episode_buttons[:-1])
    # It ends idle: the deadman is released before the last button.
    assert buttons[-1, mapping.deadman_button] == 0
    assert result.outcome == "success"


def test_styles_differ_the_way_people_do(scene):
    def motion_share(style):
        operator, _ = episode(scene, style, seed=4)
        mapping = scene[4]
        sticks = np.array([[f.axes[a] for a in (mapping.axis_x, mapping.axis_y, mapping.axis_z,
                                                mapping.axis_yaw)] for f in operator.frames])
        return len(operator.frames), np.mean(np.any(sticks != 0, axis=1))

    careful_ticks, _ = motion_share("careful")
    hurried_ticks, _ = motion_share("hurried")
    clumsy_ticks, clumsy_moving = motion_share("clumsy")
    assert hurried_ticks < careful_ticks
    assert clumsy_moving < 1.0  # pauses and idle frames


def test_same_seed_same_person(scene):
    """In a fresh world each time: PyBullet's solver carries state across resets."""
    profile, task = scene[:2]
    runs = []
    for _ in range(2):
        world = TabletopWorld(profile, task)
        try:
            runs.append(episode(scene, "clumsy", seed=5, world=world)[0])
        finally:
            world.close()
    first, second = runs
    assert [f.axes for f in first.frames] == [f.axes for f in second.frames]
    assert [f.buttons for f in first.frames] == [f.buttons for f in second.frames]


def test_a_person_who_runs_out_of_time_presses_b(scene):
    operator, result = episode(scene, "careful", seed=6, time_limit_s=4.0)
    assert result.outcome == "failure" and not result.success
    assert [e for _, e in result.events][-1] == STOP_FAILURE
