"""What a simulated controller does with an incoming command, before it reaches the motors.

One guard per command group (the joints one controller takes).

Malformed commands (wrong length, non-finite values, unknown or missing joint names, an empty
trajectory) are rejected: the robot keeps its last target. Finite values outside the joint limits
are clamped to them, as a position controller would. Either way the reason comes back as a string
so the node can log a throttled warning.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lam_ros.core.commands import GroupCommand
from lam_ros.core.profile import CommandGroup, RobotProfile


@dataclass(frozen=True)
class GuardResult:
    positions: np.ndarray | None  # joint targets in the group's order, None when rejected
    reason: str = ""  # why it was rejected or changed; empty for a clean command

    @property
    def accepted(self) -> bool:
        return self.positions is not None


class CommandGuard:
    def __init__(self, profile: RobotProfile, group: CommandGroup):
        self.group = group
        self.names = group.joints
        joints = [profile.joints[k] for k in profile.slots(group)]
        self.lower = np.array([j.lower for j in joints])
        self.upper = np.array([j.upper for j in joints])

    def check(self, command: GroupCommand, period_s: float) -> GuardResult:
        """A decoded command of this group's interface."""
        if self.group.timed:
            return self.check_trajectory(command.joint_names, command.points, period_s)
        return self.check_positions(command.points[0][1])

    def check_positions(self, values: Sequence[float]) -> GuardResult:
        """A position array: one position per group joint, the group's order."""
        positions = np.asarray(values, dtype=float).ravel()
        if positions.size != len(self.names):
            return GuardResult(None, f"rejected: {positions.size} values for "
                                     f"{len(self.names)} joints {list(self.names)}")
        bad = [n for n, v in zip(self.names, positions, strict=True) if not np.isfinite(v)]
        if bad:
            return GuardResult(None, f"rejected: non-finite value for joint(s) {bad}")
        return self._clamp(positions)

    def check_trajectory(self, joint_names: Sequence[str],
                         points: Sequence[tuple[float, Sequence[float]]],
                         period_s: float) -> GuardResult:
        """A JointTrajectory as (time_from_start s, positions) points in ``joint_names`` order.

        The sim advances one control period per step, so it takes the first point due at or after
        one period from now (the target for the end of this step); if every point is due sooner,
        the last one.
        """
        unknown = [n for n in joint_names if n not in self.names]
        if unknown:
            return GuardResult(None, f"rejected: unknown joint name(s) {unknown}")
        missing = [n for n in self.names if n not in joint_names]
        if missing:
            return GuardResult(None, f"rejected: trajectory lacks joint(s) {missing}")
        if len(set(joint_names)) != len(joint_names):
            return GuardResult(None, f"rejected: duplicate joint names {list(joint_names)}")
        if not points:
            return GuardResult(None, "rejected: trajectory has no points")
        times = [t for t, _ in points]
        due = next((k for k, t in enumerate(times) if t >= period_s - 1e-9), len(points) - 1)
        values = np.asarray(points[due][1], dtype=float).ravel()
        if values.size != len(joint_names):
            return GuardResult(None, f"rejected: point {due} has {values.size} positions for "
                                     f"{len(joint_names)} joint names")
        order = [list(joint_names).index(n) for n in self.names]
        return self.check_positions(values[order])

    def _clamp(self, positions: np.ndarray) -> GuardResult:
        clamped = np.clip(positions, self.lower, self.upper)
        outside = [f"{n}={v:.4g}" for n, v, c in zip(self.names, positions, clamped, strict=True)
                   if v != c]
        if outside:
            return GuardResult(clamped, f"clamped to joint limits: {', '.join(outside)}")
        return GuardResult(clamped)
