"""The safety filter every outgoing joint command passes (docs/design.md, "Safety").

Pure: the policy node and teleop feed it targets, measured joint positions and the time, and get
back a Decision: either a command that is finite, inside the joint limits and no further from the
last command than the velocity limit travels in the time since it (at most one control period's
travel), or no command at all. Two commands close together therefore move no faster than one per
period would, whoever ticks early. Sending nothing makes a position controller hold the last
command it got, which is the safe position.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from lam_ros.core.profile import RobotProfile

# Fault kinds, also the keys of the fault counters reported in /diagnostics.
STALE_OBSERVATION = "stale_observation"
NON_FINITE_STATE = "non_finite_state"
NON_FINITE_COMMAND = "non_finite_command"
MODEL_FAILURE = "model_failure"
NO_ACTION = "no_action"
FAULT_KINDS = (STALE_OBSERVATION, NON_FINITE_STATE, NON_FINITE_COMMAND, MODEL_FAILURE, NO_ACTION)

# Reasons for sending nothing that are not faults.
DISABLED = "disabled"
# Where the robot is (at enable, or far from the last command) is not yet confirmed by readings
# that agree: hold, and count it in ``position_holds``.
UNCONFIRMED_POSITION = "unconfirmed_position"
SENT = "sent"


@dataclass(frozen=True)
class SafetyConfig:
    stale_after_periods: float = field(default=3.0, metadata={
        "help": "an observation older than this many control periods is stale: hold"})
    max_consecutive_faults: int = field(default=5, metadata={
        "help": "disable after this many faults in a row (re-enable explicitly)"})
    reanchor_after_steps: float = field(default=3.0, metadata={
        "help": "when the robot is further than this many velocity-limited steps from the last "
                "command (reset, E-stop, pushed), step from where it is, not from that command"})
    reanchor_confirmations: int = field(default=3, metadata={
        "help": "...but only after this many readings in a row put it there, each within "
                "reanchor_after_steps of the one before; until then hold (one glitch is no move)"})

    def __post_init__(self) -> None:
        stale = self.stale_after_periods
        if not (isinstance(stale, (int, float)) and math.isfinite(stale) and stale > 0):
            raise ValueError(f"stale_after_periods must be a finite number > 0, got {stale!r}")
        faults = self.max_consecutive_faults
        if not (isinstance(faults, int) and faults >= 1):
            raise ValueError(f"max_consecutive_faults must be an integer >= 1, got {faults!r}")
        steps = self.reanchor_after_steps
        if not (isinstance(steps, (int, float)) and math.isfinite(steps) and steps >= 1):
            raise ValueError(f"reanchor_after_steps must be a finite number >= 1, got {steps!r}")
        confirm = self.reanchor_confirmations
        if not (isinstance(confirm, int) and confirm >= 1):
            raise ValueError(f"reanchor_confirmations must be an integer >= 1, got {confirm!r}")


@dataclass(frozen=True)
class Decision:
    """What to do this control tick: send ``command`` or, when it is None, send nothing."""

    command: np.ndarray | None
    reason: str  # SENT, DISABLED or a fault kind
    limited: bool = False  # the target was clamped to a joint or velocity limit

    @property
    def send(self) -> bool:
        return self.command is not None


class SafetyFilter:
    """Finite, joint-limited, velocity-limited commands; hold and count faults otherwise."""

    def __init__(self, profile: RobotProfile, config: SafetyConfig | None = None):
        self.config = config or SafetyConfig()
        self.period = profile.control_period
        self.lower = np.array([j.lower for j in profile.joints])
        self.upper = np.array([j.upper for j in profile.joints])
        self.max_step = np.array([j.max_velocity for j in profile.joints]) * self.period
        self.joint_names = profile.joint_names
        self.fault_counts: Counter[str] = Counter({kind: 0 for kind in FAULT_KINDS})
        self.consecutive_faults = 0
        self.commands_sent = 0
        self.commands_limited = 0
        self._enabled = False
        self.disabled_reason = "not enabled yet"
        self._last_command: np.ndarray | None = None
        self._last_command_time = 0.0  # ROS seconds
        self._far_readings: list[np.ndarray] = []  # consecutive readings far from the command
        self.reanchors = 0  # times the robot was found far from the last command
        self.position_holds = 0  # ticks held until readings agreed where the robot is

    @property
    def enabled(self) -> bool:
        return self._enabled

    @property
    def stale_after_s(self) -> float:
        return self.config.stale_after_periods * self.period

    def enable(self) -> None:
        """Starts sending; the first step is measured from where the robot is now."""
        self._enabled = True
        self.disabled_reason = ""
        self.consecutive_faults = 0
        self.forget_last_command()

    def disable(self, reason: str = "disabled on request") -> None:
        self._enabled = False
        self.disabled_reason = reason

    def forget_last_command(self) -> None:
        """After a reset of the robot (sim) the last command no longer says where it is."""
        self._last_command = None
        self._far_readings = []

    def is_stale(self, observation_time: float, now: float) -> bool:
        # A stamp far in the future is as untrustworthy as an old one (e.g. before a clock reset).
        return abs(now - observation_time) > self.stale_after_s

    def command(self, target: np.ndarray, measured_positions: np.ndarray, now: float,
                observation_time: float | None = None, confirmed: bool = True) -> Decision:
        """Filters one target (profile joint order, robot units) into a Decision.
        ``confirmed``: the readings behind ``measured_positions`` agree (PositionReadings), so
        it may serve as the starting point after enable."""
        target = np.asarray(target, dtype=np.float64)
        measured = np.asarray(measured_positions, dtype=np.float64)
        for what, values in (("target", target), ("measured_positions", measured)):
            if values.shape != self.lower.shape:
                raise ValueError(f"{what} has shape {values.shape}, expected {self.lower.shape} "
                                 f"for joints {list(self.joint_names)}")
        if not self._enabled:
            return Decision(None, DISABLED)
        if observation_time is not None and self.is_stale(observation_time, now):
            return self.fault(STALE_OBSERVATION)
        if not np.all(np.isfinite(measured)):
            return self.fault(NON_FINITE_STATE)
        if not np.all(np.isfinite(target)):
            return self.fault(NON_FINITE_COMMAND)
        return self._send(target, measured, now, confirmed)

    def fault(self, kind: str) -> Decision:
        """Counts a fault and holds; disables after too many in a row."""
        if kind not in self.fault_counts:
            raise ValueError(f"unknown fault kind {kind!r}; known: {FAULT_KINDS}")
        if not self._enabled:
            return Decision(None, DISABLED)
        self.fault_counts[kind] += 1
        self.consecutive_faults += 1
        if self.consecutive_faults >= self.config.max_consecutive_faults:
            self.disable(f"{self.consecutive_faults} consecutive faults, last: {kind}")
        return Decision(None, kind)

    @property
    def reach(self) -> np.ndarray:
        """Per joint: how far a reading may be from the last command (or the reading before)."""
        return self.config.reanchor_after_steps * self.max_step

    def _reference(self, measured: np.ndarray, confirmed: bool) -> np.ndarray | None:
        """Where this step starts: the last command, unless the readings at ticks in a row agree
        that the robot is no longer near it (and every reading between them does: ``confirmed``);
        with no last command, the measured position if ``confirmed``. None meanwhile (hold)."""
        if self._last_command is None:
            return measured if confirmed else None
        reach = self.reach
        if np.all(np.abs(self._last_command - measured) <= reach):
            self._far_readings = []
            return self._last_command
        if self._far_readings and np.any(np.abs(self._far_readings[-1] - measured) > reach):
            self._far_readings = []  # readings that disagree with each other: start over
        self._far_readings.append(measured)
        del self._far_readings[:-self.config.reanchor_confirmations]  # held while unconfirmed
        if len(self._far_readings) < self.config.reanchor_confirmations or not confirmed:
            return None  # a glitch between the ticks' readings is not where the robot went
        self._far_readings = []
        self.reanchors += 1
        return measured

    def _step_limit(self, now: float) -> np.ndarray:
        """Per joint: the furthest a command at ``now`` may be from the last one: the travel at
        the velocity limit since it, one period's at most. A command decided for a time ahead
        of this one (a reading stamped ahead of the clock) leaves no travel until that time
        passes. The first command, and one after the clock went back further than the stale
        limit (a simulator reset), may travel a full period's."""
        if self._last_command is None or now < self._last_command_time - self.stale_after_s:
            self._last_command_time = now - self.period
        elapsed = min(max(now - self._last_command_time, 0.0), self.period)
        if elapsed >= self.period * (1 - 1e-6):  # a period up to float noise in the stamps
            return self.max_step
        return self.max_step * (elapsed / self.period)

    def _send(self, target: np.ndarray, measured: np.ndarray, now: float,
              confirmed: bool) -> Decision:
        step = self._step_limit(now)
        reference = self._reference(measured, confirmed)
        if reference is None:  # waiting for readings that agree is not a fault
            self.position_holds += 1
            return Decision(None, UNCONFIRMED_POSITION)
        # The reference itself may lie outside the limits (robot pushed there); clamp it first so
        # a command never leaves the limits even when the step limit would allow it.
        reference = np.clip(reference, self.lower, self.upper)
        command = np.clip(target, self.lower, self.upper)
        command = np.clip(command, reference - step, reference + step)
        command = np.clip(command, self.lower, self.upper)
        limited = bool(np.any(command != target))
        self._last_command = command
        self._last_command_time = max(self._last_command_time, now)
        self.consecutive_faults = 0
        self.commands_sent += 1
        self.commands_limited += int(limited)
        return Decision(command.copy(), SENT, limited)


class PositionReadings:
    """Joint-position readings as they arrive. ``confirmed`` once the last ``count`` readings
    agree, each within ``reach`` of the one before: one wrong sample is not where the robot is,
    so it never becomes the starting point of a command."""

    def __init__(self, reach: np.ndarray, count: int):
        self.reach = np.asarray(reach, dtype=np.float64)
        self.count = count
        self._last: np.ndarray | None = None
        self._agreeing = 0

    @classmethod
    def for_filter(cls, safety_filter: SafetyFilter) -> PositionReadings:
        return cls(safety_filter.reach, safety_filter.config.reanchor_confirmations)

    def add(self, positions: np.ndarray) -> None:
        positions = np.asarray(positions, dtype=np.float64)
        usable = positions.shape == self.reach.shape and bool(np.all(np.isfinite(positions)))
        agrees = usable and (self._last is None
                             or bool(np.all(np.abs(positions - self._last) <= self.reach)))
        self._agreeing = self._agreeing + 1 if agrees else 0
        self._last = positions if usable else None

    def trust(self) -> None:
        """The robot was moved on purpose (a simulator reset): take the next reading as is."""
        self._last = None
        self._agreeing = self.count

    @property
    def confirmed(self) -> bool:
        return self._agreeing >= self.count
