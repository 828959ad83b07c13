"""The simulated hardware's command guard: malformed commands are rejected, limits clamp."""

import math

import numpy as np
import pytest

from lam_ros.core.commands import GroupCommand
from lam_ros.sim.command_guard import CommandGuard

PERIOD = 0.1


@pytest.fixture
def arm(profile):
    return profile.command_groups[0]


@pytest.fixture
def guard(profile, arm):
    return CommandGuard(profile, arm)


@pytest.fixture
def home(profile, arm):
    """The arm group's share of the home pose."""
    return np.array(profile.home)[profile.slots(arm)]


def test_clean_command_passes_unchanged(guard, home):
    result = guard.check_positions(home)
    assert result.accepted and result.reason == ""
    np.testing.assert_allclose(result.positions, home)


@pytest.mark.parametrize("extra", [-1, 1, None])
def test_wrong_length_is_rejected(guard, arm, extra):
    n = len(arm.joints)
    size = 0 if extra is None else n + extra
    result = guard.check_positions([0.0] * size)
    assert not result.accepted and result.positions is None
    assert f"{size} values for {n} joints" in result.reason


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_value_is_rejected_and_names_the_joint(guard, arm, home, bad):
    values = home.copy()
    values[3] = bad
    result = guard.check_positions(values)
    assert not result.accepted
    assert "non-finite" in result.reason and arm.joints[3] in result.reason


def test_out_of_limit_values_are_clamped_and_reported(guard, profile, arm, home):
    first, last = (profile.joints[profile.slots(arm)[k]] for k in (0, -1))
    values = home.copy()
    values[0], values[-1] = first.upper + 9.0, last.lower - 0.5
    result = guard.check_positions(values)
    assert result.accepted
    assert result.positions[0] == pytest.approx(first.upper)
    assert result.positions[-1] == pytest.approx(last.lower)
    assert f"{first.name}={values[0]:.4g}" in result.reason and last.name in result.reason


def test_a_gripper_group_has_its_own_guard(profile):
    gripper = profile.grippers[0]
    guard = CommandGuard(profile, gripper)
    spec = gripper.gripper
    result = guard.check(GroupCommand(gripper.joints, ((0.0, np.array([spec.closed])),)), PERIOD)
    assert result.accepted and result.positions.tolist() == [spec.closed]
    assert not guard.check_positions(profile.home).accepted  # a whole-robot vector is refused


def test_trajectory_is_reordered_by_name(guard, arm, home):
    names = list(reversed(arm.joints))
    target = home - 0.01
    result = guard.check_trajectory(names, [(PERIOD, target[::-1])], PERIOD)
    assert result.accepted
    np.testing.assert_allclose(result.positions, target)


def test_trajectory_uses_first_point_due_after_one_period(guard, arm, home):
    points = [(0.0, home), (PERIOD, home - 0.01), (2 * PERIOD, home - 0.02)]
    result = guard.check_trajectory(arm.joints, points, PERIOD)
    np.testing.assert_allclose(result.positions, home - 0.01)
    early = guard.check_trajectory(arm.joints, points[:1], PERIOD)
    np.testing.assert_allclose(early.positions, home)  # all points due sooner: the last one


@pytest.mark.parametrize("case, reason", [
    ("unknown", "unknown joint name(s) ['elbow']"),
    ("lacks", "lacks joint(s)"),
    ("empty", "no points"),
    ("short", "3 positions for"),
    ("nan", "non-finite"),
])
def test_malformed_trajectory_is_rejected(guard, arm, case, reason):
    names, n = list(arm.joints), len(arm.joints)
    names, points = {
        "unknown": (names[:1] + ["elbow"], [(0.1, [0.0, 0.0])]),
        "lacks": (names[:1], [(0.1, [0.0])]),
        "empty": (names, []),
        "short": (names, [(0.1, [0.0] * 3)]),
        "nan": (names, [(0.1, [math.nan] * n)]),
    }[case]
    result = guard.check_trajectory(names, points, PERIOD)
    assert not result.accepted
    assert reason in result.reason
