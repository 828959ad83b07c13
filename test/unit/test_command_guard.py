"""The simulated hardware's command guard: malformed commands are rejected, limits clamp."""

import math

import numpy as np
import pytest

from lam_ros.sim.command_guard import CommandGuard

PERIOD = 0.1


@pytest.fixture
def guard(profile):
    return CommandGuard(profile)


def test_clean_command_passes_unchanged(guard, profile):
    result = guard.check_positions(profile.home)
    assert result.accepted and result.reason == ""
    np.testing.assert_allclose(result.positions, profile.home)


@pytest.mark.parametrize("values, reason", [
    ([0.0] * 7, "7 values for 8 joints"),
    ([0.0] * 9, "9 values for 8 joints"),
    ([], "0 values"),
])
def test_wrong_length_is_rejected(guard, values, reason):
    result = guard.check_positions(values)
    assert not result.accepted and result.positions is None
    assert reason in result.reason


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_value_is_rejected_and_names_the_joint(guard, profile, bad):
    values = list(profile.home)
    values[3] = bad
    result = guard.check_positions(values)
    assert not result.accepted
    assert "non-finite" in result.reason and "panda_joint4" in result.reason


def test_out_of_limit_values_are_clamped_and_reported(guard, profile):
    values = list(profile.home)
    values[0], values[7] = 9.0, -0.5
    result = guard.check_positions(values)
    assert result.accepted
    assert result.positions[0] == pytest.approx(2.8973)
    assert result.positions[7] == 0.0
    assert "panda_joint1=9" in result.reason and "panda_finger_joint1=-0.5" in result.reason


def test_trajectory_is_reordered_by_name(guard, profile):
    names = list(reversed(profile.joint_names))
    target = np.array(profile.home) - 0.01
    result = guard.check_trajectory(names, [(PERIOD, target[::-1])], PERIOD)
    assert result.accepted
    np.testing.assert_allclose(result.positions, target)


def test_trajectory_uses_first_point_due_after_one_period(guard, profile):
    home = np.array(profile.home)
    points = [(0.0, home), (PERIOD, home - 0.01), (2 * PERIOD, home - 0.02)]
    result = guard.check_trajectory(profile.joint_names, points, PERIOD)
    np.testing.assert_allclose(result.positions, home - 0.01)
    early = guard.check_trajectory(profile.joint_names, points[:1], PERIOD)
    np.testing.assert_allclose(early.positions, home)  # all points due sooner: the last one


@pytest.mark.parametrize("names, points, reason", [
    (["panda_joint1", "elbow"], [(0.1, [0.0, 0.0])], "unknown joint name(s) ['elbow']"),
    (["panda_joint1"], [(0.1, [0.0])], "lacks joint(s)"),
    (None, [], "no points"),
    (None, [(0.1, [0.0] * 3)], "3 positions for 8 joint names"),
    (None, [(0.1, [math.nan] * 8)], "non-finite"),
])
def test_malformed_trajectory_is_rejected(guard, profile, names, points, reason):
    result = guard.check_trajectory(names or profile.joint_names, points, PERIOD)
    assert not result.accepted
    assert reason in result.reason
