"""One teleop tick without ROS: the operator's Intent and the measured joint positions in, the
filtered joint command out (or None: hold).

A fresh deadman press engages from where the robot is (once readings in a row agree); letting go,
a silent joystick or no joint states disengage and disable the safety filter; every jogged target
passes the filter, and the next step starts from what it let through. teleop_node and the
headless joystick episodes (``sim/episode.py``) both drive the robot through this.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lam_ros.core.profile import RobotProfile
from lam_ros.core.safety import PositionReadings, SafetyFilter
from lam_ros.core.teleop import Intent, Jogger, Kinematics

# What a tick that sent nothing means, for the log.
RELEASED = "released"  # the operator let go (or the joystick went silent): info, once
WAITING = "waiting"  # deadman held, joint readings do not agree yet
SAFETY_OFF = "safety_off"  # the filter disabled itself: release and press again
HELD = "held"  # the filter refused this command


@dataclass(frozen=True)
class TeleopStep:
    command: np.ndarray | None
    event: str = ""  # one of the constants above when nothing was sent and it is news
    reason: str = ""


class TeleopDriver:
    def __init__(self, profile: RobotProfile, kinematics: Kinematics):
        self.profile = profile
        self.jogger = Jogger(profile, kinematics)
        self.safety = SafetyFilter(profile)
        self.readings = PositionReadings.for_filter(self.safety)
        self.measured: np.ndarray | None = None
        self.measured_time = 0.0  # stamp of the last reading, ROS seconds
        self.engaged = False
        self.released_s = -math.inf  # ROS seconds teleop last stopped driving

    def on_joint_positions(self, stamp_s: float, positions: np.ndarray) -> None:
        self.measured = positions
        self.measured_time = stamp_s
        self.readings.add(positions)

    def on_gripper_command(self, index: int, commanded: float, now_s: float) -> None:
        """A command for gripper ``index`` seen on its topic at ROS time ``now_s``. While teleop
        is not driving (and its own last command cannot still be in flight) it is another
        node's, and a take-over keeps that gripper where it was heading
        (``Jogger.follow_gripper``)."""
        own = self.engaged or now_s - self.released_s <= self.profile.control_period
        if not own and math.isfinite(commanded):
            self.jogger.follow_gripper(index, commanded)

    def step(self, intent: Intent, now_s: float) -> TeleopStep:
        """The filtered command for this tick (``now_s``: ROS seconds), or why none."""
        if not intent.enabled or self.measured is None:
            if not self.engaged:
                return TeleopStep(None)
            reason = intent.reason or "no joint states"
            self.safety.disable(reason)
            self.jogger.release()
            self.engaged, self.released_s = False, now_s
            return TeleopStep(None, RELEASED, reason)
        if not self.engaged:  # a fresh deadman press (re-)enables, from where the robot is
            if not self.readings.confirmed:  # one odd reading is not where the robot is
                return TeleopStep(None, WAITING, "waiting for joint states that agree")
            self.safety.enable()
            self.jogger.engage(self.measured)
            self.engaged = True
        if not self.safety.enabled:
            return TeleopStep(None, SAFETY_OFF, self.safety.disabled_reason)
        target = self.jogger.step(intent, self.profile.control_period)
        decision = self.safety.command(target, self.measured, now_s, self.measured_time,
                                       confirmed=self.readings.confirmed)
        if not decision.send:
            return TeleopStep(None, HELD, decision.reason)
        self.jogger.commit(decision.command)
        return TeleopStep(decision.command)
