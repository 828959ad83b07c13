"""The safety filter: finite, joint-limited, velocity-limited commands or none at all."""

import re

import numpy as np
import pytest

from lam_ros.core import safety
from lam_ros.core.safety import Decision, SafetyConfig, SafetyFilter


@pytest.fixture
def limits(profile):
    lower = np.array([j.lower for j in profile.joints])
    upper = np.array([j.upper for j in profile.joints])
    max_step = np.array([j.max_velocity for j in profile.joints]) * profile.control_period
    return lower, upper, max_step


def enabled_filter(profile, **config) -> SafetyFilter:
    filt = SafetyFilter(profile, SafetyConfig(**config))
    filt.enable()
    return filt


def test_starts_disabled_and_sends_nothing(profile):
    filt = SafetyFilter(profile)
    home = np.array(profile.home)
    decision = filt.command(home, home, now=0.0)
    assert not filt.enabled
    assert decision == Decision(None, safety.DISABLED)
    assert sum(filt.fault_counts.values()) == 0


def test_enable_then_a_reachable_target_is_sent_unchanged(profile, limits):
    lower, _, _ = limits
    filt = enabled_filter(profile)
    home = np.array(profile.home)
    # 1 cm from home, inside the limits (a gripper's home may be its upper or its lower limit)
    target = np.where(home - 0.01 >= lower, home - 0.01, home + 0.01)
    decision = filt.command(target, home, now=0.0)
    assert decision.send and decision.reason == safety.SENT and not decision.limited
    np.testing.assert_allclose(decision.command, target)


@pytest.mark.parametrize("seed", range(20))
def test_random_targets_stay_in_limits_and_velocity(profile, limits, seed):
    rng = np.random.default_rng(seed)
    lower, upper, max_step = limits
    filt = enabled_filter(profile)
    measured = rng.uniform(lower, upper)
    previous = measured
    for tick in range(30):
        target = rng.uniform(lower - 2.0, upper + 2.0)
        decision = filt.command(target, measured, now=tick * 0.1)
        assert decision.send
        command = decision.command
        assert np.all(np.isfinite(command))
        assert np.all(command >= lower) and np.all(command <= upper)
        assert np.all(np.abs(command - previous) <= max_step + 1e-12)
        previous = command
        # A robot tracking its commands, a little behind: steps still start at the last command.
        measured = command + rng.uniform(-1.0, 1.0, command.shape) * max_step


def test_commands_closer_than_a_period_move_no_faster_than_the_velocity_limit(profile, limits):
    # Ticks that come early (a tick source gone wrong) must not multiply the speed.
    lower, upper, max_step = limits
    filt = enabled_filter(profile)
    home = np.array(profile.home)
    filt.command(home, home, now=1.0)
    period = profile.control_period
    early = filt.command(upper, home, now=1.0 + period / 4)
    np.testing.assert_allclose(early.command, np.minimum(home + max_step / 4, upper))
    again = filt.command(upper, home, now=1.0 + period / 4)  # no time passed: no step
    np.testing.assert_allclose(again.command, early.command)
    late = filt.command(upper, early.command, now=5.0)  # long after: one period's travel
    np.testing.assert_allclose(late.command, np.minimum(early.command + max_step, upper))
    back = filt.command(upper, late.command, now=0.5)  # the clock went back: one period's
    np.testing.assert_allclose(back.command, np.minimum(late.command + max_step, upper))


def test_a_command_decided_ahead_of_the_clock_leaves_no_travel_until_then(profile, limits):
    # A reading stamped 2.5 periods ahead (inside the stale limit) decides a command for that
    # time; the next tick, on the clock, may not add a step of its own until that time passed.
    lower, upper, max_step = limits
    filt = enabled_filter(profile)
    home = np.array(profile.home)
    period = profile.control_period
    filt.command(home, home, now=1.0)
    ahead = filt.command(upper, home, now=1.0 + 2.5 * period)
    np.testing.assert_allclose(ahead.command, np.minimum(home + max_step, upper))
    for now in (1.0 + period, 1.0 + 2 * period):
        held = filt.command(upper, ahead.command, now=now)
        np.testing.assert_allclose(held.command, ahead.command)
    after = filt.command(upper, ahead.command, now=1.0 + 3.5 * period)
    np.testing.assert_allclose(after.command, np.minimum(ahead.command + max_step, upper))


def test_a_period_up_to_float_noise_is_a_full_step(profile, limits):
    lower, upper, max_step = limits
    filt = enabled_filter(profile)
    home = np.array(profile.home)
    now = 0.0
    for _ in range(7):  # episode time summed tick by tick, as a simulator does
        now += profile.control_period
    filt.command(home, home, now=now - profile.control_period)
    decision = filt.command(upper, home, now=now)
    np.testing.assert_allclose(decision.command, np.minimum(home + max_step, upper))


def test_far_target_moves_one_velocity_step_from_measured_after_enable(profile, limits):
    lower, upper, max_step = limits
    filt = enabled_filter(profile)
    measured = np.array(profile.home)
    decision = filt.command(upper, measured, now=0.0)
    assert decision.limited
    np.testing.assert_allclose(decision.command, np.minimum(measured + max_step, upper))


def test_beyond_limit_target_is_clamped_to_the_limit(profile, limits):
    lower, upper, _ = limits
    filt = enabled_filter(profile)
    near_upper = upper - 1e-3
    decision = filt.command(upper + 5.0, near_upper, now=0.0)
    np.testing.assert_allclose(decision.command, upper)
    assert decision.limited


def test_measured_outside_limits_still_yields_command_inside(profile, limits):
    lower, upper, _ = limits
    filt = enabled_filter(profile)
    decision = filt.command(lower - 1.0, lower - 0.5, now=0.0)
    assert np.all(decision.command >= lower)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_target_is_not_sent_and_counted(profile, bad):
    filt = enabled_filter(profile)
    home = np.array(profile.home)
    target = home.copy()
    target[3] = bad
    decision = filt.command(target, home, now=0.0)
    assert not decision.send and decision.reason == safety.NON_FINITE_COMMAND
    assert filt.fault_counts[safety.NON_FINITE_COMMAND] == 1


def test_non_finite_measured_state_is_not_sent(profile):
    filt = enabled_filter(profile)
    home = np.array(profile.home)
    measured = home.copy()
    measured[0] = np.nan
    decision = filt.command(home, measured, now=0.0)
    assert not decision.send and decision.reason == safety.NON_FINITE_STATE


@pytest.mark.parametrize(("age_periods", "stale"), [(0.0, False), (2.9, False), (3.1, True),
                                                    (-3.1, True), (100.0, True)])
def test_stale_observation_holds(profile, age_periods, stale):
    filt = enabled_filter(profile, stale_after_periods=3.0)
    home = np.array(profile.home)
    now = 50.0
    decision = filt.command(home, home, now, observation_time=now - age_periods * 0.1)
    assert decision.send is not stale
    assert filt.fault_counts[safety.STALE_OBSERVATION] == int(stale)


def test_consecutive_faults_disable_and_success_resets_the_count(profile):
    filt = enabled_filter(profile, max_consecutive_faults=3)
    home = np.array(profile.home)
    filt.fault(safety.MODEL_FAILURE)
    filt.fault(safety.MODEL_FAILURE)
    assert filt.command(home, home, 0.0).send  # a good command breaks the run of faults
    assert filt.consecutive_faults == 0
    for _ in range(3):
        filt.fault(safety.STALE_OBSERVATION)
    assert not filt.enabled
    assert "3 consecutive faults" in filt.disabled_reason
    assert filt.command(home, home, 0.1).reason == safety.DISABLED
    assert filt.fault(safety.MODEL_FAILURE).reason == safety.DISABLED  # not counted when off
    assert filt.fault_counts[safety.MODEL_FAILURE] == 2
    assert filt.fault_counts[safety.STALE_OBSERVATION] == 3


def test_re_enable_is_explicit_and_steps_from_measured_again(profile, limits):
    _, _, max_step = limits
    filt = enabled_filter(profile, max_consecutive_faults=1)
    home = np.array(profile.home)
    filt.command(home + max_step, home, 0.0)
    filt.fault(safety.MODEL_FAILURE)
    assert not filt.enabled
    filt.enable()
    measured = np.clip(home - max_step / 2, *limits[:2])  # a gripper may be home at a limit
    decision = filt.command(home + 10 * max_step, measured, 0.1)
    np.testing.assert_allclose(decision.command,
                               np.clip(measured + max_step, *limits[:2]))


def test_forget_last_command_measures_from_the_robot(profile, limits):
    lower, upper, max_step = limits
    filt = enabled_filter(profile)
    home = np.array(profile.home)
    filt.command(home, home, 0.0)
    moved = np.clip(home + 0.5, lower, upper)  # e.g. a simulation reset teleported the arm
    filt.forget_last_command()
    decision = filt.command(moved, moved, 0.1)
    np.testing.assert_allclose(decision.command, moved)


@pytest.mark.parametrize("contradicted", [False, True])
def test_robot_far_from_the_last_command_is_stepped_from_where_it_is(profile, limits,
                                                                     contradicted):
    lower, upper, max_step = limits
    filt = enabled_filter(profile)
    home = np.array(profile.home)
    filt.command(home, home, 0.0)
    # Reset, E-stop or a push: the arm is 10 steps away; stepping from the old command would make
    # the controller jump back at full speed. Readings in a row confirm it first (hold meanwhile).
    # Contradicted: the reading at each tick is far off, but the readings between the ticks still
    # say the arm is where it was (not confirmed, a glitch): hold however many ticks see it.
    moved = np.clip(home - 10 * max_step, lower, upper)
    confirmations = filt.config.reanchor_confirmations
    holds = 2 * confirmations if contradicted else confirmations - 1
    for i in range(holds):
        held = filt.command(home, moved, 0.1 + 0.1 * i, confirmed=not contradicted)
        assert held.reason == safety.UNCONFIRMED_POSITION and not held.send
    assert filt.reanchors == 0
    decision = filt.command(home, moved, 0.1 + 0.1 * holds)  # every reading agrees now
    assert np.all(np.abs(decision.command - moved) <= max_step + 1e-12)
    assert filt.reanchors == 1
    assert filt.enabled and filt.consecutive_faults == 0
    near = decision.command - 0.5 * max_step  # tracking normally again: no re-anchor
    filt.command(home, near, 0.2 + 0.1 * holds)
    assert filt.reanchors == 1


def test_disable_on_request_names_the_reason(profile):
    filt = enabled_filter(profile)
    filt.disable("operator")
    assert not filt.enabled and filt.disabled_reason == "operator"


def test_wrong_shape_names_the_joints(profile):
    filt = enabled_filter(profile)
    with pytest.raises(ValueError, match=re.escape(str(list(profile.joint_names)))):
        filt.command(np.zeros(3), np.zeros(profile.n_joints), 0.0)


def test_unknown_fault_kind_is_refused(profile):
    with pytest.raises(ValueError, match="bogus"):
        enabled_filter(profile).fault("bogus")


@pytest.mark.parametrize(("field", "value"), [("stale_after_periods", 0.0),
                                              ("stale_after_periods", float("nan")),
                                              ("max_consecutive_faults", 0),
                                              ("max_consecutive_faults", 2.5),
                                              ("reanchor_after_steps", 0.5)])
def test_config_names_the_bad_value(field, value):
    with pytest.raises(ValueError, match=field):
        SafetyConfig(**{field: value})
