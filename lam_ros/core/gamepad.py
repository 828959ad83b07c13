"""A Linux gamepad read without ROS: joystick-API events (``/dev/input/jsN``) in, the Joy arrays
the ROS 2 ``joy`` node publishes for the same pad out (``core/teleop.py``'s default mapping).

The kernel's joystick interface delivers 8-byte events (``struct js_event``: u32 time in ms, s16
value, u8 type, u8 number); type 0x01 is a button, 0x02 an axis, with 0x80 set on the initial
state the driver reports when the device is opened. For an Xbox-layout pad (xpad driver, or a
Logitech F710 in XInput mode) the numbers are: axes 0/1 left stick x/y, 2 left trigger, 3/4
right stick x/y, 5 right trigger, 6/7 d-pad x/y; buttons A0 B1 X2 Y3 LB4 RB5 BACK6 START7 GUIDE8
LSTICK9 RSTICK10. The kernel reports sticks +32767 right and down and triggers -32767 released.

The joy node (SDL game-controller order) publishes 6 axes (sticks +1 left and up; triggers +1
released, -1 pressed) and 15 buttons: A0 B1 X2 Y3 BACK4 GUIDE5 START6 LSTICK7 RSTICK8 LB9 RB10
DPAD-UP11 DOWN12 LEFT13 RIGHT14.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

EVENT = struct.Struct("<IhBB")  # struct js_event
BUTTON, AXIS, INIT = 0x01, 0x02, 0x80
FULL_SCALE = 32767.0
N_AXES, N_BUTTONS = 6, 15

# kernel axis -> (joy axis, sign): sticks flip to +1 left / up, triggers flip to +1 released.
XPAD_AXES = {0: (0, -1.0), 1: (1, -1.0), 3: (2, -1.0), 4: (3, -1.0), 2: (4, -1.0), 5: (5, -1.0)}
XPAD_BUTTONS = {0: 0, 1: 1, 2: 2, 3: 3, 6: 4, 8: 5, 7: 6, 9: 7, 10: 8, 4: 9, 5: 10}
DPAD_X, DPAD_Y = 6, 7  # kernel axes of the d-pad; joy reports it as buttons
DPAD_UP, DPAD_DOWN, DPAD_LEFT, DPAD_RIGHT = 11, 12, 13, 14


@dataclass(frozen=True)
class JsEvent:
    time_ms: int
    value: int
    kind: int  # BUTTON or AXIS (INIT stripped)
    number: int
    initial: bool


def decode(data: bytes) -> list[JsEvent]:
    """Whole events in ``data`` (a read may return several); a partial tail is ValueError."""
    if len(data) % EVENT.size:
        raise ValueError(f"{len(data)} bytes is not a whole number of {EVENT.size}-byte "
                         "joystick events")
    return [JsEvent(t, value, kind & ~INIT, number, bool(kind & INIT))
            for t, value, kind, number in EVENT.iter_unpack(data)]


class PadState:
    """The pad as the joy node would publish it, updated event by event."""

    def __init__(self, deadzone: float = 0.05):
        if not 0.0 <= deadzone < 1.0:
            raise ValueError(f"deadzone must be in [0, 1), got {deadzone}")
        self.deadzone = deadzone
        self.axes = [0.0] * N_AXES
        self.axes[4] = self.axes[5] = 1.0  # triggers released
        self.buttons = [0] * N_BUTTONS

    def apply(self, event: JsEvent) -> bool:
        """Takes one event; True when the published state changed."""
        before = (list(self.axes), list(self.buttons))
        if event.kind == BUTTON and event.number in XPAD_BUTTONS:
            self.buttons[XPAD_BUTTONS[event.number]] = 1 if event.value else 0
        elif event.kind == AXIS and event.number in XPAD_AXES:
            index, sign = XPAD_AXES[event.number]
            value = sign * max(-1.0, min(1.0, event.value / FULL_SCALE))
            stick = index < 4
            self.axes[index] = 0.0 if stick and abs(value) < self.deadzone else value
        elif event.kind == AXIS and event.number in (DPAD_X, DPAD_Y):
            low, high = ((DPAD_LEFT, DPAD_RIGHT) if event.number == DPAD_X
                         else (DPAD_UP, DPAD_DOWN))
            self.buttons[low] = int(event.value < 0)
            self.buttons[high] = int(event.value > 0)
        return before != (self.axes, self.buttons)
