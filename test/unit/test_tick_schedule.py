"""When policy_node ticks: on the reading that opens each control period, with a watchdog timer."""

import numpy as np
import pytest

from lam_ros.core.tick_schedule import JOINT_STATES, TIMER, TickSchedule

PERIOD = 0.1


def ticks_for(schedule, stamps):
    return [round(s, 6) for s in stamps if schedule.on_reading(s, s)]


def test_readings_faster_than_the_control_rate_tick_once_per_period():
    schedule = TickSchedule(PERIOD)
    stamps = [1.0 + 0.002 * k for k in range(500)]  # 500 Hz for one second
    assert ticks_for(schedule, stamps) == pytest.approx([1.0 + 0.1 * k for k in range(10)])


def test_stamp_jitter_moves_no_tick_by_a_reading():
    # 100 Hz readings with +-2 ms of jitter on the stamps, for 20 s: a tick is always the
    # reading nearest its grid point, never the one after (which would make a 110 ms interval).
    rng = np.random.default_rng(0)
    stamps = 5.0 + 0.01 * np.arange(2000) + rng.uniform(-0.002, 0.002, 2000)
    ticks = ticks_for(TickSchedule(PERIOD), stamps)
    assert len(ticks) == 200
    assert np.all(np.abs(np.diff(ticks) - PERIOD) < 0.005)


def test_readings_at_the_control_rate_tick_each_despite_jitter():
    rng = np.random.default_rng(1)
    stamps = 2.0 + 0.1 * np.arange(300) + rng.uniform(-0.003, 0.003, 300)
    assert len(ticks_for(TickSchedule(PERIOD), stamps)) == 300


def test_a_rate_that_does_not_divide_the_period_keeps_the_control_rate():
    # 30 Hz readings against 10 Hz: the grid does not drift towards the readings, so 3 s give
    # 30 ticks, not more.
    ticks = ticks_for(TickSchedule(PERIOD), [k / 30 for k in range(90)])
    assert len(ticks) == 30
    assert all(abs(t - 0.1 * i) < 1 / 60 for i, t in enumerate(ticks))


def test_slower_readings_tick_once_each():
    stamps = [0.2 * k for k in range(10)]  # 5 Hz against 10 Hz
    assert len(ticks_for(TickSchedule(PERIOD), stamps)) == 10


def test_several_readings_of_one_instant_open_one_period():
    schedule = TickSchedule(PERIOD)
    assert [schedule.on_reading(2.0, 2.0) for _ in range(3)] == [True, False, False]


def test_the_grid_re_anchors_after_a_missing_reading_and_after_a_clock_jump_back():
    schedule = TickSchedule(PERIOD)
    assert ticks_for(schedule, [1.0, 1.05, 1.1]) == [1.0, 1.1]
    assert ticks_for(schedule, [1.15, 1.25, 1.3, 1.35]) == [1.25, 1.35]  # 1.2 never came
    assert ticks_for(schedule, [0.003, 0.053, 0.103]) == [0.003, 0.103]  # simulator reset


def test_the_watchdog_ticks_every_period_once_readings_stopped():
    schedule = TickSchedule(PERIOD)
    assert schedule.on_timer(0.0)  # nothing opened a period yet: the tick says what it waits for
    assert schedule.on_reading(1.0, 1.0)
    assert not schedule.on_timer(1.1)
    assert not schedule.on_timer(1.149)
    assert all(schedule.on_timer(t) for t in (1.151, 1.25, 1.35, 1.45))  # every period
    assert schedule.on_timer(0.5)  # the clock went back: tick


def test_on_a_timer_every_timer_callback_ticks_and_readings_never_do():
    schedule = TickSchedule(PERIOD, TIMER)
    assert schedule.on_timer(1.01)
    assert not schedule.on_reading(5.0, 5.0)
    assert schedule.on_timer(1.02)


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="tick source"):
        TickSchedule(PERIOD, "camera")
    with pytest.raises(ValueError, match="period"):
        TickSchedule(0.0, JOINT_STATES)


def test_a_clock_that_lags_its_readings_by_up_to_a_period_loses_no_tick():
    # Lockstep simulation: /clock and the joint states of one instant may arrive in either
    # order, so at a reading the node's clock is that instant or the one before (up to a period
    # back). Every control period still ticks once, for the reading's stamp.
    rng = np.random.default_rng(4)
    for step in (0.05, PERIOD):  # readings at 20 Hz, or one per control period
        schedule, ticks = TickSchedule(PERIOD), []
        for k in range(400):
            stamp = 10.0 + step * k
            now = stamp - step * rng.integers(2)
            if schedule.on_reading(stamp, now):
                ticks.append(schedule.tick_time(stamp, now))
        assert len(ticks) == round(400 * step / PERIOD)
        assert np.allclose(np.diff(ticks), PERIOD)


def test_readings_whose_stamps_jump_about_tick_at_most_twice_a_period():
    # 100 Hz readings on the node's clock, every third one stamped anywhere from 0.3 s back to
    # 0.3 s ahead (a broken driver, or a fuzzer): each odd stamp would re-anchor the grid.
    # (How far the commands may move between such ticks is the safety filter's part.)
    rng = np.random.default_rng(2)
    schedule, ticks = TickSchedule(PERIOD), []
    for k in range(1000):
        now = 3.0 + 0.01 * k
        stamp = now + rng.uniform(-0.3, 0.3) if k % 3 == 0 else now
        if schedule.on_reading(stamp, now):
            ticks.append(schedule.tick_time(stamp, now))
        if k % 10 == 5 and schedule.on_timer(now):  # the watchdog timer, at the control period
            ticks.append(now)
    assert len(ticks) >= 50  # the node still ticks
    assert np.min(np.diff(ticks)) >= PERIOD / 2 - 1e-9
