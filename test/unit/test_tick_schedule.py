"""When policy_node ticks: on the reading that opens each control period, with a watchdog timer."""

import pytest

from lam_ros.core.tick_schedule import JOINT_STATES, TIMER, TickSchedule

PERIOD = 0.1


def ticks_for(schedule, stamps):
    return [round(s, 6) for s in stamps if schedule.on_reading(s)]


def test_readings_faster_than_the_control_rate_tick_once_per_period():
    schedule = TickSchedule(PERIOD)
    stamps = [1.0 + 0.002 * k for k in range(500)]  # 500 Hz for one second
    assert ticks_for(schedule, stamps) == pytest.approx([1.0 + 0.1 * k for k in range(10)])


def test_a_rate_that_does_not_divide_the_period_keeps_the_control_rate():
    # 30 Hz readings against 10 Hz: each tick is the first reading at or past its grid point;
    # the grid does not drift towards the readings, so 3 s give 30 ticks, not more.
    schedule = TickSchedule(PERIOD)
    ticks = ticks_for(schedule, [k / 30 for k in range(90)])
    assert len(ticks) == 30
    assert all(-1e-9 <= t - 0.1 * i < 1 / 30 for i, t in enumerate(ticks))


def test_several_readings_of_one_instant_open_one_period():
    schedule = TickSchedule(PERIOD)
    assert [schedule.on_reading(2.0) for _ in range(3)] == [True, False, False]


def test_the_grid_re_anchors_after_a_gap_and_after_a_clock_jump_back():
    schedule = TickSchedule(PERIOD)
    assert ticks_for(schedule, [1.0, 1.05, 1.1]) == [1.0, 1.1]
    assert ticks_for(schedule, [1.537, 1.54, 1.637]) == [1.537, 1.637]  # gap: from the reading
    assert ticks_for(schedule, [0.003, 0.05, 0.103]) == [0.003, 0.103]  # simulator reset


def test_the_watchdog_ticks_only_when_readings_stopped():
    schedule = TickSchedule(PERIOD)
    assert schedule.on_timer(0.0)  # nothing ticked yet: the tick says what it waits for
    schedule.ticked(1.0)
    assert not schedule.on_timer(1.1)
    assert not schedule.on_timer(1.149)
    assert schedule.on_timer(1.151)
    assert schedule.on_timer(0.5)  # the clock went back: tick


def test_on_a_timer_every_timer_callback_ticks_and_readings_never_do():
    schedule = TickSchedule(PERIOD, TIMER)
    schedule.ticked(1.0)
    assert schedule.on_timer(1.01)
    assert not schedule.on_reading(5.0)


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="tick source"):
        TickSchedule(PERIOD, "camera")
    with pytest.raises(ValueError, match="period"):
        TickSchedule(0.0, JOINT_STATES)
