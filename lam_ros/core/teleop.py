"""Joystick teleoperation logic, pure: sensor_msgs/Joy arrays in, operator intent and joint
targets out. The node feeds it messages and ticks; every target then passes the SafetyFilter.

Default mapping: an Xbox-layout pad (Logitech F710 in XInput mode) as the ROS 2 ``joy`` node
publishes it (SDL game-controller order): axes 0/1 left stick x/y, 2/3 right stick x/y,
4/5 triggers; buttons A0 B1 X2 Y3 BACK4 GUIDE5 START6 LSTICK7 RSTICK8 LB9 RB10 DPAD-UP11 DOWN12.
Sticks read +1 left and +1 up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Protocol

import numpy as np

from lam_ros.core.profile import RobotProfile

CARTESIAN = "cartesian"
JOINT = "joint"
# Episode events, in the order the recorder offers them.
START, STOP_SUCCESS, STOP_FAILURE, DISCARD = "start", "stop_success", "stop_failure", "discard"
IK_MISS_M = 1e-3  # a Cartesian jog whose solution misses its target by more counts as failed


def _button(default: int, help_text: str):
    return field(default=default, metadata={"help": f"button index: {help_text}"})


def _axis(default: int, help_text: str):
    return field(default=default, metadata={"help": f"axis index: {help_text}"})


@dataclass(frozen=True)
class TeleopConfig:
    profile: str = field(default="", metadata={
        "help": "robot profile name or YAML path (required: no robot is implied)"})
    deadman_button: int = _button(9, "hold to move the robot (LB)")
    mode_button: int = _button(7, "toggle Cartesian / joint jogging (left stick press)")
    home_button: int = _button(8, "drive to the profile's home pose (right stick press)")
    gripper_close_button: int = _button(2, "close the gripper (X)")
    gripper_open_button: int = _button(3, "open the gripper (Y)")
    next_joint_button: int = _button(11, "joint mode: select the next joint (d-pad up)")
    previous_joint_button: int = _button(12, "joint mode: select the previous joint (d-pad down)")
    start_button: int = _button(6, "start an episode (START)")
    stop_success_button: int = _button(0, "stop the episode as a success (A)")
    stop_failure_button: int = _button(1, "stop the episode as a failure (B)")
    discard_button: int = _button(4, "discard the episode (BACK)")
    axis_x: int = _axis(1, "end effector forward/back, +x (left stick up)")
    axis_y: int = _axis(0, "end effector left/right, +y (left stick left)")
    axis_z: int = _axis(3, "end effector up/down, +z (right stick up)")
    axis_yaw: int = _axis(2, "end effector yaw, +yaw (right stick left)")
    axis_joint: int = _axis(1, "joint mode: selected joint velocity (left stick up)")
    deadzone: float = field(default=0.1, metadata={"help": "stick values below this read 0"})
    linear_speed_mps: float = field(default=0.15, metadata={"help": "full-stick EE speed"})
    yaw_speed_rps: float = field(default=0.8, metadata={"help": "full-stick EE yaw rate"})
    joint_speed_rps: float = field(default=0.5, metadata={"help": "full-stick joint speed"})
    joy_timeout_s: float = field(default=0.5, metadata={
        "help": "hold when /joy is silent for longer than this (wall seconds)"})
    recorder_timeout_s: float = field(default=5.0, metadata={
        "help": "give up on a recorder call unanswered for this long (wall seconds)"})
    diagnostics_period_s: float = field(default=1.0, metadata={
        "help": "wall seconds between /diagnostics reports"})

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            is_index = f.name.endswith("_button") or f.name.startswith("axis_")
            if is_index and not (isinstance(value, int) and value >= 0):
                raise ValueError(f"{f.name} must be an index >= 0, got {value!r}")
            if f.type == "float" and not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{f.name} must be a finite number >= 0, got {value!r}")
        if not 0 <= self.deadzone < 1:
            raise ValueError(f"deadzone must be in [0, 1), got {self.deadzone}")
        for name in ("joy_timeout_s", "recorder_timeout_s", "diagnostics_period_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        buttons = [f.name for f in fields(self) if f.name.endswith("_button")]
        used = [getattr(self, b) for b in buttons]
        clashes = sorted({b for b in buttons if used.count(getattr(self, b)) > 1})
        if clashes:
            raise ValueError(f"buttons {clashes} share an index; each needs its own")


@dataclass(frozen=True)
class Intent:
    """What the operator asks for at one control tick."""

    enabled: bool  # deadman held and the joystick alive
    reason: str  # why not enabled, for the log
    mode: str = CARTESIAN
    ee_velocity: np.ndarray = field(default_factory=lambda: np.zeros(4))  # vx, vy, vz, yaw rate
    joint_index: int = 0
    joint_velocity: float = 0.0
    gripper: str = ""  # "open" | "close" | ""
    home: bool = False


class ButtonEdges:
    """Rising edges of buttons; the first message only sets the baseline (a button held while
    teleop starts must not fire)."""

    def __init__(self) -> None:
        self._previous: np.ndarray | None = None

    def update(self, buttons: np.ndarray) -> set[int]:
        previous = self._previous
        self._previous = buttons.copy()
        if previous is None or previous.shape != buttons.shape:
            return set()
        return {int(i) for i in np.flatnonzero((buttons > 0) & (previous <= 0))}


def _read(values: np.ndarray, index: int) -> float:
    return float(values[index]) if index < len(values) else 0.0


class TeleopMapper:
    """Joy messages -> episode events (edge detected) and, per tick, an Intent."""

    def __init__(self, config: TeleopConfig, n_joints: int):
        self.config = config
        self.n_joints = n_joints
        self.mode = CARTESIAN
        self.joint_index = 0
        self.homing = False
        self._edges = ButtonEdges()
        self._axes = np.zeros(0)
        self._buttons = np.zeros(0, dtype=np.int64)
        self._received_s: float | None = None
        self._gripper = ""

    def on_joy(self, axes, buttons, now_s: float) -> list[str]:
        """Takes one Joy message; returns the episode events its buttons started."""
        c = self.config
        self._axes = np.asarray(axes, dtype=np.float64)
        self._buttons = np.asarray(buttons, dtype=np.int64)
        self._received_s = now_s
        pressed = self._edges.update(self._buttons)
        if c.mode_button in pressed:
            self.mode = JOINT if self.mode == CARTESIAN else CARTESIAN
        step = (c.next_joint_button in pressed) - (c.previous_joint_button in pressed)
        self.joint_index = (self.joint_index + step) % self.n_joints
        if c.gripper_close_button in pressed:
            self._gripper = "close"
        if c.gripper_open_button in pressed:
            self._gripper = "open"
        if c.home_button in pressed:
            self.homing = True
        events = {c.start_button: START, c.stop_success_button: STOP_SUCCESS,
                  c.stop_failure_button: STOP_FAILURE, c.discard_button: DISCARD}
        return [event for button, event in events.items() if button in pressed]

    def _stick(self, index: int) -> float:
        value = _read(self._axes, index)
        if not math.isfinite(value) or abs(value) < self.config.deadzone:
            return 0.0
        return max(-1.0, min(1.0, value))

    def joy_age_s(self, now_s: float) -> float | None:
        """Seconds since the last Joy message; None before the first."""
        return None if self._received_s is None else now_s - self._received_s

    def tick(self, now_s: float) -> Intent:
        c = self.config
        age = self.joy_age_s(now_s)
        if age is None:
            return self._hold("no /joy message yet")
        if age > c.joy_timeout_s:
            return self._hold(f"/joy silent for {age:.2f} s")
        if _read(self._buttons, c.deadman_button) <= 0:
            return self._hold("deadman released")
        ee_velocity, joint_velocity = np.zeros(4), 0.0
        if self.mode == CARTESIAN:
            sticks = [self._stick(a) for a in (c.axis_x, c.axis_y, c.axis_z, c.axis_yaw)]
            ee_velocity = np.array(sticks) * ([c.linear_speed_mps] * 3 + [c.yaw_speed_rps])
        else:
            joint_velocity = self._stick(c.axis_joint) * c.joint_speed_rps
        if self.homing and (np.any(ee_velocity) or joint_velocity):
            self.homing = False  # the operator took over
        gripper, self._gripper = self._gripper, ""
        return Intent(True, "", self.mode, ee_velocity, self.joint_index, joint_velocity,
                      gripper, self.homing)

    def _hold(self, reason: str) -> Intent:
        self.homing = False
        self._gripper = ""
        return Intent(False, reason, self.mode, joint_index=self.joint_index)


class EpisodeCalls:
    """The recorder calls episode buttons make: one at a time, so a double press cannot race
    its own first press; a call unanswered for ``timeout_s`` (a recorder that died or is
    restarting) is given up so the buttons work again. Times are monotonic seconds."""

    def __init__(self, timeout_s: float):
        self.timeout_s = timeout_s
        self.pending: tuple[str, float] | None = None  # (event, sent at)

    def refusal(self, event: str, now_s: float) -> str:
        """Why ``event`` cannot be sent now, or "" when it can."""
        if self.pending is None:
            return ""
        pending, sent = self.pending
        if now_s - sent > self.timeout_s:
            return ""  # the caller gives the old call up
        return f"the recorder has not answered {pending} yet ({now_s - sent:.1f} s)"

    def expired(self, now_s: float) -> bool:
        return self.pending is not None and now_s - self.pending[1] > self.timeout_s

    def sent(self, event: str, now_s: float) -> None:
        self.pending = (event, now_s)

    def answered(self) -> None:
        self.pending = None


class Kinematics(Protocol):
    """What jogging needs (lam_ros.kinematics.Kinematics provides it)."""

    def forward(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    def inverse(self, position: np.ndarray, orientation: np.ndarray,
                q_seed: np.ndarray) -> np.ndarray: ...


def rotate_about_z(quaternion: np.ndarray, angle: float) -> np.ndarray:
    """World-frame yaw applied to an (x, y, z, w) quaternion."""
    x, y, z, w = quaternion
    s, c = math.sin(angle / 2), math.cos(angle / 2)
    return np.array([c * x - s * y, c * y + s * x, c * z + s * w, c * w - s * z])


class Jogger:
    """Turns an Intent into the next joint target, starting from the last command sent."""

    def __init__(self, profile: RobotProfile, kinematics: Kinematics):
        self.profile = profile
        self.kinematics = kinematics
        self.home = np.array(profile.home)
        self.gripper = [profile.slots(g)[0] for g in profile.grippers]
        self.gripper_open = np.array([g.gripper.open for g in profile.grippers])
        self.gripper_closed = np.array([g.gripper.closed for g in profile.grippers])
        self.reference: np.ndarray | None = None  # the last command sent
        # The gripper target stays latched from its button press until the other button (or
        # home): one press must drive the fingers all the way through the velocity clamp, and a
        # grasp keeps squeezing across deadman releases. Per gripper; NaN: not latched. Another
        # node commanding a gripper (a policy) re-latches it (``follow_gripper``).
        self.gripper_target: np.ndarray | None = None
        self.ik_failures = 0
        self.ik_last_failure = ""

    def engage(self, measured_positions: np.ndarray) -> None:
        self.reference = np.asarray(measured_positions, dtype=np.float64).copy()
        self._apply_gripper_target(self.reference)

    def follow_gripper(self, index: int, commanded: float) -> None:
        """Another node commanded gripper ``index`` to ``commanded`` while teleop was not
        driving: latch that gripper to whichever end, open or closed, the command is nearer.
        A take-over then keeps a policy's grasp squeezing (or its open hand open) rather than
        going back to the end this operator last pressed, which would drop what the policy
        holds."""
        target = (np.full(len(self.gripper), np.nan) if self.gripper_target is None
                  else self.gripper_target.copy())
        opened, closed = self.gripper_open[index], self.gripper_closed[index]
        target[index] = opened if abs(commanded - opened) < abs(commanded - closed) else closed
        self.gripper_target = target

    def _apply_gripper_target(self, q: np.ndarray) -> None:
        if self.gripper_target is not None:
            latched = ~np.isnan(self.gripper_target)
            q[np.asarray(self.gripper, dtype=int)[latched]] = self.gripper_target[latched]

    def release(self) -> None:
        self.reference = None

    def commit(self, command: np.ndarray) -> None:
        """Records what the safety filter let through: the next step starts there."""
        self.reference = np.asarray(command, dtype=np.float64).copy()

    def step(self, intent: Intent, dt: float) -> np.ndarray:
        if self.reference is None:
            raise RuntimeError("Jogger.step before engage()")
        if intent.home:
            self.gripper_target = self.home[self.gripper]
            return self.home.copy()
        target = self.reference.copy()
        if intent.mode == CARTESIAN and np.any(intent.ee_velocity):
            target = self._cartesian(target, intent.ee_velocity * dt)
        elif intent.mode == JOINT:
            target[intent.joint_index] += intent.joint_velocity * dt
        if intent.gripper and self.gripper:
            self.gripper_target = (self.gripper_open if intent.gripper == "open"
                                   else self.gripper_closed)
        self._apply_gripper_target(target)
        return target

    def _cartesian(self, q: np.ndarray, delta: np.ndarray) -> np.ndarray:
        """The IK solution for the jogged pose; a failure is counted (a solution that misses
        the position still moves as close as it gets, a non-finite one holds)."""
        position, orientation = self.kinematics.forward(q)
        goal = position + delta[:3]
        solution = self.kinematics.inverse(goal, rotate_about_z(orientation, delta[3]), q)
        if not np.all(np.isfinite(solution)):
            self._ik_failed("no finite solution: holding")
            return q
        miss_m = float(np.linalg.norm(self.kinematics.forward(solution)[0] - goal))
        if miss_m > IK_MISS_M:
            self._ik_failed(f"target out of reach: missed by {miss_m * 1e3:.1f} mm")
        return solution

    def _ik_failed(self, reason: str) -> None:
        self.ik_failures += 1
        self.ik_last_failure = reason
