"""Scripted pick-and-place expert: privileged cube and target poses in, joint targets out.

The plan is a list of Cartesian segments (approach, descend, grasp, lift, carry, lower, release,
retreat) with a top-down gripper. Each control tick the expert eases along the current segment,
solves IK seeded with its previous command, and limits the joint step to the profile's velocity
limits, so demonstrations are smooth and the same inputs always give the same commands.

The expert watches whether the world still matches its plan (cube where the plan expects it,
robot near the last command) and replans from the measured state when it does not: after a
world reset, or when a grasp slipped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lam_ros.core.profile import GripperSpec, RobotProfile
from lam_ros.kinematics import Kinematics

TOP_DOWN = np.array([1.0, 0.0, 0.0, 0.0])  # gripper z-axis pointing at the table, yaw 0
HOVER_Z = 0.14  # m above the table: approach and carry height of the grasp point
GRASP_Z = 0.02  # m: grasp point height when closing on the cube
PLACE_Z = 0.035  # m: grasp point height when letting go over the target
TRANSIT_SPEED = 0.18  # m/s, average along a segment (eased, so the peak is 1.5x)
FINE_SPEED = 0.1  # m/s for the short vertical moves near the table
CUBE_SLACK = 0.025  # m the cube may drift from where the plan expects it before a replan
HAND_SLACK = 0.06  # m between grasp point and a held cube before the grasp counts as lost
TARGET_SLACK = 0.06  # m from the target centre before a placed cube counts as moved away
JOINT_SLACK = 0.5  # rad between command and measurement before the robot counts as moved


@dataclass(frozen=True)
class Segment:
    """Ease the grasp point from ``start`` to ``end`` in ``ticks``; command ``gripper`` meanwhile.

    ``cube`` says where the cube should be meanwhile: "start" (on the table where the plan saw
    it), "hand" (held), or "free" (no expectation: closing on it, or after letting go).
    """

    name: str
    start: np.ndarray
    end: np.ndarray
    ticks: int
    gripper: float  # the gripper joint's target: its open or its closed position
    cube: str


def _ticks(start: np.ndarray, end: np.ndarray, speed: float, control_hz: float,
           minimum: int) -> int:
    return max(minimum, int(np.ceil(np.linalg.norm(end - start) / speed * control_hz)))


def plan_pick_place(ee_start: np.ndarray, cube_xy: np.ndarray, target_xy: np.ndarray,
                    gripper: GripperSpec, control_hz: float) -> list[Segment]:
    """The segments of one pick-and-place from the current grasp point position.

    The gripper opens to the profile's open position and closes towards its closed one: past
    the cube's width, so it squeezes the cube.
    """
    opened, closed = gripper.open, gripper.closed
    above_cube = np.array([*cube_xy, HOVER_Z])
    at_cube = np.array([*cube_xy, GRASP_Z])
    above_target = np.array([*target_xy, HOVER_Z])
    at_target = np.array([*target_xy, PLACE_Z])
    hz = control_hz

    def move(name, a, b, speed, minimum, gripper_target, cube):
        return Segment(name, a, b, _ticks(a, b, speed, hz, minimum), gripper_target, cube)

    # From low down (a replan after a slipped grasp) rise first, so the approach does not
    # sweep the fingers across the table and the cube.
    clear = np.array([ee_start[0], ee_start[1], max(ee_start[2], HOVER_Z)])
    rise = [move("rise", ee_start, clear, FINE_SPEED, 3, opened, "free")] \
        if ee_start[2] < HOVER_Z - 0.03 else []
    return rise + [
        move("approach", clear, above_cube, TRANSIT_SPEED, 8, opened, "start"),
        move("descend", above_cube, at_cube, FINE_SPEED, 6, opened, "start"),
        move("grasp", at_cube, at_cube, 1.0, 5, closed, "free"),
        move("lift", at_cube, above_cube, FINE_SPEED, 6, closed, "hand"),
        move("carry", above_cube, above_target, TRANSIT_SPEED, 8, closed, "hand"),
        move("lower", above_target, at_target, FINE_SPEED, 5, closed, "hand"),
        move("release", at_target, at_target, 1.0, 4, opened, "free"),
        move("retreat", at_target, above_target, FINE_SPEED, 5, opened, "free"),
    ]


def ease(fraction: float) -> float:
    """Smoothstep: zero velocity at both ends of a segment."""
    f = min(max(fraction, 0.0), 1.0)
    return f * f * (3.0 - 2.0 * f)


class ScriptedExpert:
    """``act(joint_positions, cube_position, target_position)`` -> next joint target."""

    def __init__(self, profile: RobotProfile, kinematics: Kinematics | None = None):
        self.profile = profile
        self.kinematics = kinematics or Kinematics(profile)
        self.max_step = np.array([j.max_velocity for j in profile.joints]) / profile.control_hz
        if len(profile.grippers) != 1:
            raise ValueError(f"the scripted expert needs exactly one gripper group, profile "
                             f"{profile.name!r} has {len(profile.grippers)}")
        group = profile.grippers[0]
        self.gripper, (self.gripper_slot,) = group.gripper, profile.slots(group)
        self.replans = 0
        self.reset()

    def reset(self) -> None:
        """Forget the plan; the next ``act`` plans from the measured state."""
        self.plan: list[Segment] = []
        self.segment = 0
        self.tick = 0
        self.command: np.ndarray | None = None
        self.planned_cube_xy: np.ndarray | None = None

    @property
    def phase(self) -> str:
        if not self.plan:
            return "idle"
        return self.plan[self.segment].name if self.segment < len(self.plan) else "done"

    def act(self, joint_positions: np.ndarray, cube_position: np.ndarray,
            target_position: np.ndarray) -> np.ndarray:
        q = np.asarray(joint_positions, dtype=float)
        cube = np.asarray(cube_position, dtype=float)
        target = np.asarray(target_position, dtype=float)
        if not self.plan or self._off_plan(q, cube, target):
            self._replan(q, cube, target)
        if self.segment >= len(self.plan):
            return self.command.copy()
        segment = self.plan[self.segment]
        self.tick += 1
        point = segment.start + ease(self.tick / segment.ticks) * (segment.end - segment.start)
        desired = self.kinematics.inverse(point, TOP_DOWN, self.command)
        desired[self.gripper_slot] = segment.gripper
        self.command = self.command + np.clip(desired - self.command, -self.max_step,
                                              self.max_step)
        if self.tick >= segment.ticks:
            self.segment, self.tick = self.segment + 1, 0
        return self.command.copy()

    def _replan(self, q: np.ndarray, cube: np.ndarray, target: np.ndarray) -> None:
        if self.plan:
            self.replans += 1
        ee, _ = self.kinematics.forward(q)
        self.plan = plan_pick_place(ee, cube[:2], target[:2], self.gripper,
                                    self.profile.control_hz)
        self.segment, self.tick = 0, 0
        self.command = q.copy()
        self.planned_cube_xy = cube[:2].copy()

    def _off_plan(self, q: np.ndarray, cube: np.ndarray, target: np.ndarray) -> bool:
        """The world no longer matches the plan: it was reset, or the cube got away."""
        if np.any(np.abs(q - self.command) > JOINT_SLACK):
            return True
        if self.segment >= len(self.plan):  # done: the cube should stay on the target
            return bool(np.linalg.norm(cube[:2] - target[:2]) > TARGET_SLACK)
        expectation = self.plan[self.segment].cube
        if expectation == "start":
            return bool(np.linalg.norm(cube[:2] - self.planned_cube_xy) > CUBE_SLACK)
        if expectation == "hand":
            ee, _ = self.kinematics.forward(q)
            return bool(np.linalg.norm(cube - ee) > HAND_SLACK)
        return False
