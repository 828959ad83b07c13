"""The kernel joystick interface's events -> the joy node's Joy arrays for the default pad."""

import pytest

from lam_ros.core.gamepad import AXIS, BUTTON, EVENT, INIT, PadState, decode
from lam_ros.core.teleop import TeleopConfig


def events(*items):
    """(kind, number, value) -> the bytes /dev/input/jsN delivers."""
    return b"".join(EVENT.pack(1000 + i, value, kind, number)
                    for i, (kind, number, value) in enumerate(items))


def test_initial_state_and_events_decode():
    data = events((BUTTON | INIT, 0, 0), (AXIS | INIT, 1, 0), (BUTTON, 7, 1))
    decoded = decode(data)
    assert [(e.kind, e.number, e.value, e.initial) for e in decoded] == [
        (BUTTON, 0, 0, True), (AXIS, 1, 0, True), (BUTTON, 7, 1, False)]
    with pytest.raises(ValueError, match="whole number"):
        decode(data[:-3])


def test_the_default_pad_maps_to_what_teleop_reads():
    teleop = TeleopConfig(profile="any")
    pad = PadState()
    assert pad.axes[4] == pad.axes[5] == 1.0  # triggers released, as joy reports them
    for kind, number, value in [(BUTTON, 4, 1),  # LB: the deadman
                                (BUTTON, 7, 1),  # START
                                (AXIS, 1, -32767),  # left stick fully up
                                (AXIS, 0, -16384),  # left stick half left
                                (AXIS, 4, 32767),  # right stick fully down
                                (AXIS, 5, 32767),  # right trigger fully pressed
                                (AXIS, 7, -32767)]:  # d-pad up
        assert pad.apply(decode(events((kind, number, value)))[0])
    assert pad.buttons[teleop.deadman_button] == 1
    assert pad.buttons[teleop.start_button] == 1
    assert pad.axes[teleop.axis_x] == pytest.approx(1.0)  # +x: forward
    assert pad.axes[teleop.axis_y] == pytest.approx(0.5, abs=1e-4)  # +y: left
    assert pad.axes[teleop.axis_z] == pytest.approx(-1.0)  # down
    assert pad.axes[5] == pytest.approx(-1.0)
    assert pad.buttons[teleop.next_joint_button] == 1  # d-pad up
    assert not pad.apply(decode(events((BUTTON, 4, 1)))[0])  # no change, nothing new


def test_sticks_inside_the_deadzone_read_zero_and_unknown_inputs_are_ignored():
    pad = PadState(deadzone=0.1)
    assert not pad.apply(decode(events((AXIS, 0, 1000)))[0])  # 0.03 of full scale
    assert pad.axes[0] == 0.0
    assert not pad.apply(decode(events((BUTTON, 30, 1)))[0])
    with pytest.raises(ValueError, match="deadzone"):
        PadState(deadzone=1.5)
