"""One wrong but finite joint-state reading must not defeat the velocity clamp (issue 9, 3)."""

import numpy as np
import pytest

from lam_ros.core import safety
from lam_ros.core.safety import SafetyFilter


@pytest.fixture
def filt(profile):
    f = SafetyFilter(profile)
    f.enable()
    return f


def max_step(profile):
    return np.array([j.max_velocity for j in profile.joints]) * profile.control_period


@pytest.mark.parametrize("glitch_rad", [0.8, -1.5])
def test_a_single_glitch_moves_no_joint_more_than_one_step(profile, filt, glitch_rad):
    step = max_step(profile)
    home = np.array(profile.home)
    target = home.copy()
    target[1] += 0.2  # the policy keeps asking for a joint-2 move
    last = filt.command(target, home, 0.0).command
    glitched = last.copy()
    glitched[3] += glitch_rad  # one sample from a bad encoder read
    commands = [last]
    for i, measured in enumerate([glitched, last, last]):
        decision = filt.command(target, measured, 0.1 * (i + 1))
        if decision.send:
            commands.append(decision.command)
    steps = np.abs(np.diff(np.array(commands), axis=0))
    assert np.all(steps <= step + 1e-12), f"largest step {steps.max():.3f} rad"
    assert filt.reanchors == 0
    assert filt.fault_counts[safety.STATE_FAR_FROM_COMMAND] == 1


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
    for i, offset in enumerate([0.5, -0.5, 0.5, -0.5]):
        decision = filt.command(home, last + offset, 0.1 * (i + 1))
        assert not decision.send
    assert filt.reanchors == 0
