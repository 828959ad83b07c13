"""One wrong but finite joint-state reading must not defeat the velocity clamp (issue 9, 3)."""

import numpy as np
import pytest

from lam_ros.core import safety
from lam_ros.core.safety import PositionReadings, SafetyFilter


@pytest.fixture
def filt(profile):
    f = SafetyFilter(profile)
    f.enable()
    return f


def max_step(profile):
    return np.array([j.max_velocity for j in profile.joints]) * profile.control_period


@pytest.mark.parametrize("glitch_reaches", [1.25, -2.3])
def test_a_single_glitch_moves_no_joint_more_than_one_step(profile, filt, glitch_reaches):
    """A glitch beyond the re-anchor reach (a nearer one is ordinary tracking error), in
    multiples of that reach: e.g. 0.8 and -1.5 rad on a Panda, 1.2 and -2.2 rad on an xArm."""
    step = max_step(profile)
    home = np.array(profile.home)
    target = home.copy()
    target[1] += 0.2  # the policy keeps asking for a joint-2 move
    last = filt.command(target, home, 0.0).command
    glitched = last.copy()
    glitched[3] += glitch_reaches * filt.reach[3]  # one sample from a bad encoder read
    commands = [last]
    for i, measured in enumerate([glitched, last, last]):
        decision = filt.command(target, measured, 0.1 * (i + 1))
        if decision.send:
            commands.append(decision.command)
    steps = np.abs(np.diff(np.array(commands), axis=0))
    assert np.all(steps <= step + 1e-12), f"largest step {steps.max():.3f} rad"
    assert filt.reanchors == 0
    assert filt.position_holds == 1


def test_alternating_glitches_never_confirm_a_move(profile, filt):
    home = np.array(profile.home)
    last = filt.command(home, home, 0.0).command
    far = last + 0.5
    for i in range(10):  # far, near, far, near...: never three far readings in a row
        filt.command(home, far if i % 2 == 0 else last, 0.1 * (i + 1))
    assert filt.reanchors == 0


def test_far_readings_that_disagree_do_not_confirm_each_other(profile, filt):
    home = np.array(profile.home)
    last = filt.command(home, home, 0.0).command
    far = 1.5 * filt.reach  # beyond the reach on every joint, 3 reaches from each other
    for i, sign in enumerate([1, -1, 1, -1]):
        decision = filt.command(home, last + sign * far, 0.1 * (i + 1))
        assert not decision.send
    assert filt.reanchors == 0


def test_readings_confirm_a_position_only_when_several_in_a_row_agree(profile, filt):
    readings = PositionReadings.for_filter(filt)
    home = np.array(profile.home)
    for _ in range(readings.count - 1):
        readings.add(home)
        assert not readings.confirmed
    readings.add(home + 0.01)
    assert readings.confirmed
    glitched = home.copy()
    glitched[2] += 2.0
    readings.add(glitched)  # one odd sample: not confirmed, and not a starting point
    assert not readings.confirmed
    readings.add(home)
    assert not readings.confirmed  # the count starts again
    readings.add(np.full_like(home, np.nan))
    readings.trust()  # a simulator reset moved the arm on purpose
    assert readings.confirmed
    readings.add(glitched)
    assert readings.confirmed


def test_enable_never_starts_from_an_unconfirmed_reading(profile, filt):
    home = np.array(profile.home)
    glitched = home.copy()
    glitched[0] += 2.0
    held = filt.command(home, glitched, 0.0, confirmed=False)
    assert not held.send and held.reason == safety.UNCONFIRMED_POSITION
    assert filt.enabled and filt.consecutive_faults == 0
    sent = filt.command(home, home, 0.1, confirmed=True)
    assert sent.send
    np.testing.assert_allclose(sent.command, home)
