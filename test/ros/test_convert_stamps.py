"""sec_to_stamp on accumulated sim time: a float just under a whole second must not lose it
(a /clock that jumps back 1 s every second corrupts every recorded stamp)."""

import pytest

from lam_ros.ros.convert import sec_to_duration, sec_to_stamp, stamp_to_sec


def test_accumulated_control_periods_stay_monotonic():
    t, previous = 0.0, -1.0
    for _ in range(2000):
        t += 0.1  # how the simulator advances its clock
        stamp = stamp_to_sec(sec_to_stamp(t))
        assert stamp == pytest.approx(t, abs=1e-9)
        assert stamp > previous
        previous = stamp


@pytest.mark.parametrize("t,sec,nanosec", [(4.999999999999998, 5, 0), (1.5, 1, 500_000_000),
                                           (-0.25, -1, 750_000_000)])
def test_split(t, sec, nanosec):
    assert (sec_to_stamp(t).sec, sec_to_stamp(t).nanosec) == (sec, nanosec)
    assert (sec_to_duration(t).sec, sec_to_duration(t).nanosec) == (sec, nanosec)
