"""Teleop logic: mapping, deadman, joystick timeout, edge-detected buttons, and jogging that moves
the end effector (real PyBullet kinematics) the way the stick says."""

import math

import numpy as np
import pytest

from lam_ros.core import teleop
from lam_ros.core.safety import SafetyFilter
from lam_ros.core.teleop import Jogger, TeleopConfig, TeleopMapper, rotate_about_z

CFG = TeleopConfig()
N_AXES, N_BUTTONS = 6, 15


def joy(axes=None, pressed=()):
    a = np.zeros(N_AXES)
    for index, value in (axes or {}).items():
        a[index] = value
    b = np.zeros(N_BUTTONS, dtype=int)
    b[list(pressed)] = 1
    return a, b


@pytest.fixture(scope="module")
def kinematics(profile):
    from lam_ros.kinematics import Kinematics

    return Kinematics(profile)


def test_config_rejects_shared_buttons_and_bad_values():
    with pytest.raises(ValueError, match="share an index"):
        TeleopConfig(start_button=0)
    with pytest.raises(ValueError, match="joy_timeout_s"):
        TeleopConfig(joy_timeout_s=0.0)
    with pytest.raises(ValueError, match="axis_x"):
        TeleopConfig(axis_x=-1)


def test_deadman_gates_motion():
    mapper = TeleopMapper(CFG, n_joints=8)
    assert mapper.tick(0.0).reason == "no /joy message yet"
    mapper.on_joy(*joy({CFG.axis_x: 1.0}), now_s=1.0)
    held = mapper.tick(1.0)
    assert not held.enabled and held.reason == "deadman released"
    mapper.on_joy(*joy({CFG.axis_x: 1.0, CFG.axis_yaw: -0.5}, [CFG.deadman_button]), now_s=1.1)
    intent = mapper.tick(1.1)
    assert intent.enabled
    np.testing.assert_allclose(intent.ee_velocity,
                               [CFG.linear_speed_mps, 0, 0, -0.5 * CFG.yaw_speed_rps])


def test_silent_joystick_holds():
    mapper = TeleopMapper(CFG, n_joints=8)
    assert mapper.joy_age_s(10.0) is None
    mapper.on_joy(*joy({CFG.axis_z: 1.0}, [CFG.deadman_button]), now_s=10.0)
    assert mapper.joy_age_s(10.25) == pytest.approx(0.25)
    assert mapper.tick(10.0 + CFG.joy_timeout_s * 0.5).enabled
    late = mapper.tick(10.0 + CFG.joy_timeout_s * 2)
    assert not late.enabled and "silent" in late.reason


def test_deadzone_and_nonfinite_axes_read_zero():
    mapper = TeleopMapper(CFG, n_joints=8)
    mapper.on_joy(*joy({CFG.axis_x: 0.05, CFG.axis_y: float("nan")}, [CFG.deadman_button]), 0.0)
    assert not np.any(mapper.tick(0.0).ee_velocity)


@pytest.mark.parametrize("button,event", [
    (CFG.start_button, teleop.START), (CFG.stop_success_button, teleop.STOP_SUCCESS),
    (CFG.stop_failure_button, teleop.STOP_FAILURE), (CFG.discard_button, teleop.DISCARD)])
def test_episode_buttons_fire_once_per_press(button, event):
    mapper = TeleopMapper(CFG, n_joints=8)
    assert mapper.on_joy(*joy(pressed=[button]), 0.0) == []  # held at startup: baseline only
    assert mapper.on_joy(*joy(), 0.1) == []
    assert mapper.on_joy(*joy(pressed=[button]), 0.2) == [event]
    assert mapper.on_joy(*joy(pressed=[button]), 0.3) == []  # still held: no repeat
    assert mapper.on_joy(*joy(), 0.4) == []
    assert mapper.on_joy(*joy(pressed=[button]), 0.5) == [event]


def test_mode_toggle_and_joint_selection():
    mapper = TeleopMapper(CFG, n_joints=8)
    mapper.on_joy(*joy(), 0.0)
    mapper.on_joy(*joy(pressed=[CFG.mode_button]), 0.1)
    mapper.on_joy(*joy(), 0.2)
    mapper.on_joy(*joy(pressed=[CFG.previous_joint_button]), 0.3)  # wraps to the last joint
    mapper.on_joy(*joy({CFG.axis_joint: -1.0}, [CFG.deadman_button]), 0.4)
    intent = mapper.tick(0.4)
    assert intent.mode == teleop.JOINT and intent.joint_index == 7
    assert intent.joint_velocity == pytest.approx(-CFG.joint_speed_rps)
    assert not np.any(intent.ee_velocity)


@pytest.mark.parametrize("axis,sign,component", [
    (CFG.axis_x, 1.0, 0), (CFG.axis_x, -1.0, 0), (CFG.axis_y, 1.0, 1), (CFG.axis_z, 1.0, 2),
    (CFG.axis_z, -1.0, 2)])
def test_cartesian_jog_moves_end_effector_in_commanded_direction(profile, kinematics, axis, sign,
                                                                 component):
    mapper, jogger = TeleopMapper(CFG, profile.n_joints), Jogger(profile, kinematics)
    safety = SafetyFilter(profile)
    safety.enable()
    home = np.array(profile.home)
    jogger.engage(home)
    start, _ = kinematics.forward(home)
    for i in range(10):
        mapper.on_joy(*joy({axis: sign}, [CFG.deadman_button]), now_s=i * 0.1)
        decision = safety.command(jogger.step(mapper.tick(i * 0.1), dt=0.1), home, i * 0.1)
        assert decision.send
        jogger.commit(decision.command)
    end, _ = kinematics.forward(jogger.reference)
    moved = end - start
    assert sign * moved[component] == pytest.approx(10 * 0.1 * CFG.linear_speed_mps, rel=0.2)
    others = np.delete(moved, component)
    assert np.all(np.abs(others) < 0.2 * abs(moved[component]))


def test_ik_failures_are_counted_with_their_reason(profile, kinematics):
    jogger = Jogger(profile, kinematics)
    jogger.engage(np.array(profile.home))
    jogger.step(teleop.Intent(True, "", ee_velocity=np.array([0.1, 0, 0, 0])), dt=0.1)
    assert jogger.ik_failures == 0  # a reachable jog
    far = jogger.step(teleop.Intent(True, "", ee_velocity=np.array([0, 0, 10.0, 0])), dt=0.1)
    assert jogger.ik_failures == 1  # 1 m straight up: beyond the arm
    assert jogger.ik_last_failure.startswith("target out of reach: missed by")
    assert np.all(np.isfinite(far))  # as close as it gets

    class NoSolution:
        forward = kinematics.forward

        def inverse(self, position, orientation, q_seed):
            return np.full_like(q_seed, np.nan)

    jogger = Jogger(profile, NoSolution())
    jogger.engage(np.array(profile.home))
    held = jogger.step(teleop.Intent(True, "", ee_velocity=np.array([0.1, 0, 0, 0])), dt=0.1)
    np.testing.assert_allclose(held, profile.home)
    assert (jogger.ik_failures, jogger.ik_last_failure) == (1, "no finite solution: holding")


def test_yaw_jog_turns_gripper_about_vertical(profile, kinematics):
    jogger = Jogger(profile, kinematics)
    jogger.engage(np.array(profile.home))
    _, q0 = kinematics.forward(jogger.reference)
    intent = teleop.Intent(True, "", ee_velocity=np.array([0, 0, 0, 0.5]))
    _, q1 = kinematics.forward(jogger.step(intent, dt=0.2))
    np.testing.assert_allclose(q1, rotate_about_z(q0, 0.1), atol=2e-2)


def the_gripper(profile):
    """The profile's one gripper: its slot in the action vector and its open/closed spec."""
    (group,) = profile.grippers
    return profile.slots(group)[0], group.gripper


def test_joint_mode_gripper_and_home(profile, kinematics):
    jogger = Jogger(profile, kinematics)
    g, spec = the_gripper(profile)
    start = np.array(profile.home)
    start[[profile.joint_names.index(n) for n in profile.arm_joints]] += 0.1  # the arm off home
    start[g] = spec.closed + 0.25 * (spec.open - spec.closed)  # a quarter open
    jogger.engage(start)
    target = jogger.step(teleop.Intent(True, "", teleop.JOINT, joint_index=3,
                                       joint_velocity=0.5), dt=0.1)
    np.testing.assert_allclose(target - start, np.eye(profile.n_joints)[3] * 0.05)
    opened = jogger.step(teleop.Intent(True, "", gripper="open"), dt=0.1)
    assert opened[g] == spec.open
    closed = jogger.step(teleop.Intent(True, "", gripper="close"), dt=0.1)
    assert closed[g] == spec.closed
    np.testing.assert_allclose(jogger.step(teleop.Intent(True, "", home=True), dt=0.1),
                               profile.home)


def test_one_gripper_press_closes_fully_through_the_safety_filter_and_keeps_squeezing(
        profile, kinematics):
    jogger, safety = Jogger(profile, kinematics), SafetyFilter(profile)
    safety.enable()
    g, spec = the_gripper(profile)
    measured = np.array(profile.home)
    assert measured[g] == spec.open  # home is open
    jogger.engage(measured)
    intents = [teleop.Intent(True, "", gripper="close")] + [teleop.Intent(True, "")] * 5
    for t, intent in enumerate(intents):
        decision = safety.command(jogger.step(intent, 0.1), measured, now=t * 0.1,
                                  observation_time=t * 0.1)
        jogger.commit(decision.command)
        measured = decision.command  # a perfect position controller
    assert measured[g] == pytest.approx(spec.closed)
    jogger.release()  # deadman released, then pressed again with the cube in the fingers
    held = measured.copy()
    held[g] = spec.closed + 0.25 * (spec.open - spec.closed)  # fingers held open by the cube
    jogger.engage(held)
    assert jogger.step(teleop.Intent(True, ""), 0.1)[g] == spec.closed


def test_a_gripper_another_node_commanded_keeps_that_end_when_the_operator_takes_over(
        profile, kinematics):
    from lam_ros.core.teleop_driver import TeleopDriver

    driver = TeleopDriver(profile, kinematics)
    g, spec = the_gripper(profile)
    period = profile.control_period
    held = np.array(profile.home)
    held[g] = spec.closed + 0.25 * (spec.open - spec.closed)  # fingers on an object
    for t in range(4):
        driver.on_joint_positions(t * period, held)
    deadman = teleop.Intent(True, "")
    driver.step(teleop.Intent(True, "", gripper="open"), 3 * period)  # the operator's last press
    driver.step(teleop.Intent(False, "released"), 4 * period)  # lets go at t = 0.4 s
    # Its own last command still in flight, a non-finite one: the press stays latched.
    driver.on_gripper_command(0, spec.closed, 4.5 * period)
    driver.on_gripper_command(0, math.nan, 6 * period)
    assert driver.jogger.gripper_target[0] == spec.open
    # A policy closes the fingers (part way: the nearer end counts) ...
    driver.on_gripper_command(0, spec.closed + 0.3 * (spec.open - spec.closed), 6 * period)
    for t in range(7, 10):
        driver.on_joint_positions(t * period, held)
    step = driver.step(deadman, 10 * period)  # ... and the operator takes over: still closing
    assert abs(step.command[g] - spec.closed) < abs(held[g] - spec.closed)
    # While the operator drives, its own commands on the topic change nothing.
    driver.on_gripper_command(0, spec.open, 11 * period)
    assert driver.jogger.gripper_target[0] == spec.closed


def test_rotate_about_z_composes():
    q = rotate_about_z(np.array([0.0, 0.0, 0.0, 1.0]), math.pi / 2)
    np.testing.assert_allclose(rotate_about_z(q, math.pi / 2), [0, 0, 1, 0], atol=1e-12)
