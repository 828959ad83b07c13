"""A simulated person with a gamepad: privileged poses in, sensor_msgs/Joy arrays out.

It drives teleop_node's default mapping (``core.teleop.TeleopConfig``) the way a person does,
not the way the scripted expert does: it waits a moment, presses START, holds the deadman while
it moves, and steers the end effector with the sticks towards the same waypoints the expert
uses (above the object, down, close, up, above the goal, down, open, up), then presses A when the
task succeeded, B when it gave up, and now and then BACK. What makes it human:

- it reacts to what it saw ``reaction_s`` ago, allowing for part of how it has moved the sticks
  since (``anticipation``), and changes its sticks only every ``decision_period_s``, so it
  overshoots and corrects;
- it moves one or two axes at a time (the largest errors first), with limited stick precision
  and noise;
- it pauses now and then (sometimes letting go of the deadman), idles before the first motion
  and after the last, and retries a grasp that did not hold.

Styles (careful, hurried, clumsy) are parameter sets; every random choice comes from ``seed``.
Times are the simulation's seconds. Pure: no ROS, no PyBullet.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from lam_ros.core.profile import RobotProfile
from lam_ros.core.teleop import TeleopConfig
from lam_ros.kinematics import Kinematics
from lam_ros.sim.expert import HOVER_Z, place_for
from lam_ros.sim.tasks import Pose, Task, wrap_quarter_turn, yaw_of

N_AXES, N_BUTTONS = 6, 15  # the joy node's layout for the default pad (see core/teleop.py)
TRIGGER_REST = 1.0  # SDL reports an untouched trigger as +1
LOST_GRASP_M = 0.04  # grasp point to the held object's grasp spot: beyond this, not held
EASE_IN = 2.0  # near the table (going down to grasp or place) a person moves this much slower
SETTLED_M = 0.001  # the hand moved less than this between two states seen: it stopped
CLOSE_S, OPEN_S = 1.0, 0.8  # seconds a person waits for the fingers after pressing X / Y

# Phases, in order. Each moving phase has a target for the grasp point and the hand's yaw.
IDLE, APPROACH, DESCEND, GRASP, LIFT, CARRY, LOWER, RELEASE, RETREAT, DONE = (
    "idle", "approach", "descend", "grasp", "lift", "carry", "lower", "release", "retreat",
    "done")


@dataclass(frozen=True)
class OperatorStyle:
    name: str
    reaction_s: float  # how old the state is that a decision is made from
    anticipation: float  # share of its own stick motion since then that it allows for
    decision_period_s: float  # sticks change at most this often
    horizon_s: float  # full stick when the error would take this long at full speed
    precision: float  # sticks move in steps of this size
    noise: float  # standard deviation added to a deflected stick
    max_axes: int  # sticks deflected at once (x, y, z and yaw count one each)
    tolerance_m: float  # close enough to a waypoint
    tolerance_yaw: float  # rad
    pause_per_s: float  # chance per second of moving that the person pauses
    pause_s: tuple[float, float]
    let_go_in_pause: float  # chance a pause also releases the deadman
    idle_before_s: tuple[float, float]  # before START, and after START before moving
    idle_after_s: tuple[float, float]  # after the last motion, before A/B/BACK
    discard_chance: float  # an episode that ends with BACK instead of A or B


STYLES = {
    "careful": OperatorStyle("careful", 0.25, 0.9, 0.2, 0.8, 0.05, 0.02, 1, 0.004,
                             math.radians(3), 0.04, (0.4, 1.2), 0.3, (0.5, 1.5), (0.5, 1.0),
                             0.02),
    "hurried": OperatorStyle("hurried", 0.2, 0.7, 0.15, 0.4, 0.1, 0.05, 2, 0.006,
                             math.radians(5), 0.02, (0.2, 0.6), 0.2, (0.2, 0.6), (0.2, 0.5),
                             0.02),
    "clumsy": OperatorStyle("clumsy", 0.35, 0.6, 0.3, 0.5, 0.25, 0.1, 2, 0.008,
                            math.radians(5), 0.08, (0.5, 2.0), 0.5, (0.5, 2.0), (0.5, 1.5),
                            0.05),
}
DEFAULT_STYLE = "careful"


@dataclass(frozen=True)
class Seen:
    """What the operator saw at one moment."""

    time_s: float
    hand: np.ndarray  # grasp point (m)
    hand_yaw: float
    held: Pose
    goal: Pose
    success: bool


@dataclass(frozen=True)
class JoyFrame:
    axes: list[float]
    buttons: list[int]


class JoystickOperator:
    """``act(now_s, joint_positions, held, goal, success)`` -> the Joy message to publish."""

    def __init__(self, profile: RobotProfile, task: Task, style: str | OperatorStyle,
                 seed: int, time_limit_s: float, kinematics: Kinematics | None = None,
                 mapping: TeleopConfig | None = None):
        self.profile, self.task = profile, task
        self.style = STYLES[style] if isinstance(style, str) else style
        self.kinematics = kinematics or Kinematics(profile)
        self.mapping = mapping or TeleopConfig(profile=profile.name)
        self.rng = np.random.default_rng(seed)
        self.time_limit_s = time_limit_s
        self.seen: deque[Seen] = deque()
        self.before_view: Seen | None = None  # the state seen just before the one reacted to
        self.moved: deque[tuple[float, np.ndarray]] = deque()  # (time, velocity asked since)
        self.phase = IDLE
        self.phase_since = 0.0
        self.start_s: float | None = None
        self.sticks = np.zeros(4)  # vx, vy, vz, yaw as stick deflections
        self.next_decision = 0.0
        self.pause_until = -math.inf
        self.deadman = False
        self.presses: deque[int] = deque()  # buttons to press, one per message
        self.held_button: int | None = None  # the button down in the last message
        self.place_target: tuple[np.ndarray, float] | None = None
        self.grasp_tries = 0
        self.outcome = ""  # "success" | "failure" | "discard" once decided
        self.wait_until = self.rng.uniform(*self.style.idle_before_s)
        self.begun = False  # START pressed
        # Decided up front, so that the seed alone says whether the episode ends with BACK.
        self.will_discard = bool(self.rng.random() < self.style.discard_chance)

    # -- the decision loop -------------------------------------------------------------------

    def act(self, now_s: float, joint_positions: np.ndarray, held: Pose, goal: Pose,
            success: bool) -> JoyFrame:
        hand, quaternion = self.kinematics.forward(np.asarray(joint_positions, dtype=float))
        self.seen.append(Seen(now_s, hand, yaw_of(quaternion), held, goal, success))
        while len(self.seen) > 1 and self.seen[1].time_s <= now_s - self.style.reaction_s:
            self.before_view = self.seen.popleft()
        view = self.seen[0]
        while self.moved and self.moved[0][0] < view.time_s:
            self.moved.popleft()
        if self.start_s is None:
            self.start_s = now_s
        self._advance(now_s, view)
        frame = self._frame()
        c = self.mapping
        speed = np.array([c.linear_speed_mps] * 3 + [c.yaw_speed_rps])
        self.moved.append((now_s, self.sticks * speed if self.deadman else np.zeros(4)))
        return frame

    def take_over(self, now_s: float, holding: bool) -> None:
        """Start steering mid-task, from wherever the hand is (a correction of a policy): with
        the object in hand, lift and carry it; without, open the gripper and go for it. The
        time limit counts from here; pressing START is left out (the episode is running)."""
        self.begun, self.outcome, self.deadman = True, "", False
        self.seen.clear()
        self.before_view = None
        self.moved.clear()
        self.sticks[:] = 0.0
        self.grasp_tries, self.place_target = 0, None
        self.start_s = self.wait_until = now_s
        self.pause_until = -math.inf
        if not holding:
            self._press(self.mapping.gripper_open_button)
        self._enter(LIFT if holding else APPROACH, now_s)

    def holding(self, hand: np.ndarray, held: Pose) -> bool:
        """The held object's grasp spot is at the grasp point ``hand``."""
        spot = held.position + np.array([0.0, 0.0, self.task.grasp_above_centre])
        return bool(np.linalg.norm(spot - hand) <= LOST_GRASP_M)

    def _expected_motion(self, now: float) -> np.ndarray:
        """How far (x, y, z, yaw) the sticks moved the hand since the state it reacts to."""
        motion = np.zeros(4)
        times = [t for t, _ in self.moved] + [now]
        for (t, velocity), t_next in zip(self.moved, times[1:], strict=True):
            motion += velocity * (t_next - t)
        return motion

    def _advance(self, now: float, view: Seen) -> None:
        if self.outcome or now < self.wait_until:
            return
        if not self.begun:
            self.begun = True
            self._press(self.mapping.start_button)
            self.wait_until = now + self.rng.uniform(*self.style.idle_before_s)
            return
        if self.phase == IDLE:
            self._enter(APPROACH, now)
        if now - self.start_s > self.time_limit_s:
            self._finish(now, success=False)
            return
        if self.phase == DONE:
            self._finish(now, success=view.success)
            return
        if now < self.pause_until:
            return
        if self.phase in (GRASP, RELEASE):
            if now - self.phase_since >= (CLOSE_S if self.phase == GRASP else OPEN_S):
                self._enter(LIFT if self.phase == GRASP else RETREAT, now)
            return
        if self.phase in (LIFT, CARRY, LOWER) and not self._holding(view):
            self._retry_grasp(now)
            return
        if self.rng.random() < self.style.pause_per_s * self.style.decision_period_s and \
                now >= self.next_decision:
            self._pause(now)
            return
        self.deadman = True
        if now >= self.next_decision:
            self._steer(now, view)

    def _steer(self, now: float, view: Seen) -> None:
        """New stick deflections towards the phase's target, or the next phase when there."""
        self.next_decision = now + self.style.decision_period_s
        target, yaw = self._target(view)
        error = np.array([*(target - view.hand), wrap_yaw(yaw - view.hand_yaw)])
        error -= self.style.anticipation * self._expected_motion(now)
        tolerance = np.array([self.style.tolerance_m] * 3 + [self.style.tolerance_yaw])
        if np.all(np.abs(error) <= tolerance):
            self.sticks[:] = 0.0
            if self.phase not in (DESCEND, LOWER) or self._settled(view):
                self._arrived(now)
            return
        c = self.mapping
        speed = np.array([c.linear_speed_mps] * 3 + [c.yaw_speed_rps])
        near_contact = self.phase in (DESCEND, LOWER)
        horizon = self.style.horizon_s * (EASE_IN if near_contact else 1.0)
        wanted = np.clip(error / (speed * horizon), -1.0, 1.0)
        # A person moves the largest errors first: over the object before going down, and up
        # out of a hand that went too deep before moving sideways (not to push the object).
        urgency = np.abs(error) / tolerance
        if self.phase in (APPROACH, CARRY):
            urgency[2] *= 0.1 if np.linalg.norm(error[:2]) > 3 * self.style.tolerance_m else 1
        if near_contact and error[2] > tolerance[2]:
            urgency[2] = np.inf
        chosen = np.argsort(-urgency)[:self.style.max_axes]
        sticks = np.zeros(4)
        for axis in chosen:
            if abs(error[axis]) > tolerance[axis]:
                sticks[axis] = self._deflect(wanted[axis])
        self.sticks = sticks

    def _settled(self, view: Seen) -> bool:
        """Before pressing X or Y a person sees the hand stop where it should be: no stick
        motion since the state it reacts to (so the error just found is the seen one, no
        anticipation), and the hand still in that state. A hand that coasted on past the
        target, say into the table, is then steered back before the press."""
        before = self.before_view
        return (before is not None
                and not any(np.any(velocity) for _, velocity in self.moved)
                and bool(np.linalg.norm(view.hand - before.hand) <= SETTLED_M))

    def _deflect(self, wanted: float) -> float:
        """What the thumb does with ``wanted``: coarse steps, a little noise, never below the
        deadzone when it means to move."""
        step = self.style.precision
        value = np.round(wanted / step) * step + self.rng.normal(0.0, self.style.noise)
        floor = self.mapping.deadzone + 0.02
        if abs(value) < floor:
            value = math.copysign(floor, wanted)
        return float(np.clip(value, -1.0, 1.0))

    def _target(self, view: Seen) -> tuple[np.ndarray, float]:
        held = view.held
        grasp_yaw = wrap_quarter_turn(held.yaw)
        pick_z = held.position[2] + self.task.grasp_above_centre
        if self.phase == APPROACH:
            return np.array([*held.position[:2], HOVER_Z]), grasp_yaw
        if self.phase == DESCEND:
            return np.array([*held.position[:2], pick_z]), grasp_yaw
        if self.phase == LIFT:
            return np.array([*view.hand[:2], HOVER_Z]), view.hand_yaw
        if self.place_target is None:  # the carry starts: aim from where it sits in the hand
            place = place_for(self.task, held, view.goal, view.hand[:2], view.hand_yaw)
            self.place_target = (np.array([*place.xy, place.z]), place.yaw)
        at, yaw = self.place_target
        if self.phase == CARRY:
            return np.array([*at[:2], HOVER_Z]), yaw
        if self.phase == LOWER:
            return at.copy(), yaw
        return np.array([*view.hand[:2], HOVER_Z]), view.hand_yaw  # RETREAT

    def _arrived(self, now: float) -> None:
        following = {APPROACH: DESCEND, DESCEND: GRASP, LIFT: CARRY, CARRY: LOWER,
                     LOWER: RELEASE, RETREAT: DONE}
        phase = following[self.phase]
        if phase == GRASP:
            self._press(self.mapping.gripper_close_button)
        if phase == RELEASE:
            self._press(self.mapping.gripper_open_button)
        if phase == DONE:
            self.deadman = False
            self.wait_until = now + self.rng.uniform(*self.style.idle_after_s)
        self._enter(phase, now)

    def _holding(self, view: Seen) -> bool:
        return self.holding(view.hand, view.held)

    def _retry_grasp(self, now: float) -> None:
        self.grasp_tries += 1
        self.sticks[:] = 0.0
        self.place_target = None
        if self.grasp_tries > 2:
            self._finish(now, success=False)
            return
        self._press(self.mapping.gripper_open_button)
        self._enter(APPROACH, now)
        self.pause_until = now + OPEN_S

    def _pause(self, now: float) -> None:
        self.sticks[:] = 0.0
        self.pause_until = now + self.rng.uniform(*self.style.pause_s)
        if self.rng.random() < self.style.let_go_in_pause:
            self.deadman = False

    def _finish(self, now: float, success: bool) -> None:
        self.sticks[:] = 0.0
        self.deadman = False
        if self.will_discard:
            self.outcome, button = "discard", self.mapping.discard_button
        elif success:
            self.outcome, button = "success", self.mapping.stop_success_button
        else:
            self.outcome, button = "failure", self.mapping.stop_failure_button
        self._press(button)
        self._enter(DONE, now)

    def _enter(self, phase: str, now: float) -> None:
        self.phase, self.phase_since = phase, now
        self.next_decision = now

    def _press(self, button: int) -> None:
        self.presses.append(button)

    # -- the message -------------------------------------------------------------------------

    def _frame(self) -> JoyFrame:
        c = self.mapping
        frame = idle_frame()
        axes, buttons = frame.axes, frame.buttons
        if self.deadman:
            buttons[c.deadman_button] = 1
            for index, value in zip((c.axis_x, c.axis_y, c.axis_z, c.axis_yaw), self.sticks,
                                    strict=True):
                axes[index] = float(value)
        # A press is one message down, then up: a button held over two messages would be one
        # press anyway (teleop acts on rising edges), so each press gets its own up message.
        if self.held_button is not None:
            self.held_button = None
        elif self.presses:
            self.held_button = self.presses.popleft()
            buttons[self.held_button] = 1
        return frame

    @property
    def finished(self) -> bool:
        """The last button (A, B or BACK) went out."""
        return bool(self.outcome) and not self.presses and self.held_button is None


def idle_frame() -> JoyFrame:
    """A pad nobody touches, as the joy node reports it."""
    axes = [0.0] * N_AXES
    axes[4] = axes[5] = TRIGGER_REST
    return JoyFrame(axes, [0] * N_BUTTONS)


def wrap_yaw(angle: float) -> float:
    """An angle in (-pi, pi]."""
    return math.atan2(math.sin(angle), math.cos(angle))

