"""Scripted expert for the tabletop tasks: privileged object and goal poses in, joint targets out.

The plan is a list of Cartesian segments (approach, descend, grasp, lift, carry, lower, release,
retreat) with a top-down gripper turned to the object's yaw (a square looks the same every quarter
turn, so the gripper never turns more than 45 degrees to grasp). Each control tick the expert
eases along the current segment, solves IK seeded with its previous command, and limits the joint
step to the profile's velocity limits, so demonstrations are smooth and the same inputs always
give the same commands. When the carry starts, the place is planned again from where the object
sits in the hand, so a grasp a few millimetres off still lands a peg in its hole.

The expert watches whether the world still matches its plan (the object where the plan expects
it, robot near the last command) and replans from the measured state when it does not: after a
world reset, or when a grasp slipped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lam_ros.core.profile import GripperSpec, RobotProfile
from lam_ros.kinematics import Kinematics
from lam_ros.sim.tasks import DEFAULT_TASK, Pose, Task, get_task, wrap_quarter_turn, yaw_of

HOVER_Z = 0.14  # m above the table: approach and carry height of the grasp point
PLACE_DROP = 0.015  # m the held object is let go of above its goal
TRANSIT_SPEED = 0.18  # m/s, average along a segment (eased, so the peak is 1.5x)
FINE_SPEED = 0.1  # m/s for the short vertical moves near the table
TURN_SPEED = 1.2  # rad/s of gripper yaw, average along a segment
OBJECT_SLACK = 0.025  # m the object may drift from where the plan expects it before a replan
HAND_SLACK = 0.06  # m between grasp point and a held object before the grasp counts as lost
GOAL_SLACK = 0.06  # m from the goal before a placed object counts as moved away
JOINT_SLACK = 0.5  # rad between command and measurement before the robot counts as moved


@dataclass(frozen=True)
class Segment:
    """Ease the grasp point from ``start`` to ``end`` and the gripper's yaw from ``yaw_start``
    to ``yaw_end`` in ``ticks``; command ``gripper`` meanwhile.

    ``held`` says where the object should be meanwhile: "start" (on the table where the plan saw
    it), "hand" (held), or "free" (no expectation: closing on it, or after letting go).
    """

    name: str
    start: np.ndarray
    end: np.ndarray
    yaw_start: float
    yaw_end: float
    ticks: int
    gripper: float  # the gripper joint's target: its open or its closed position
    held: str


def hand_quaternion(yaw: float) -> np.ndarray:
    """(x, y, z, w) of a gripper pointing down at the table, turned ``yaw`` about +z."""
    return np.array([math.cos(yaw / 2), math.sin(yaw / 2), 0.0, 0.0])


@dataclass(frozen=True)
class Place:
    """Where the grasp point lets go, and the gripper's yaw there."""

    xy: np.ndarray
    z: float
    yaw: float


def place_for(task: Task, held: Pose, goal: Pose, hand_xy: np.ndarray, hand_yaw: float) -> Place:
    """The grasp point's place that puts the held object's centre on the goal.

    The object sits in the hand at an offset that turns with the hand; with ``align_yaw`` the
    hand turns so the object matches the goal's yaw (to the nearest quarter turn).
    """
    turn = wrap_quarter_turn(goal.yaw - held.yaw) if task.align_yaw else 0.0
    offset = held.position[:2] - hand_xy
    c, s = math.cos(turn), math.sin(turn)
    turned = np.array([c * offset[0] - s * offset[1], s * offset[0] + c * offset[1]])
    return Place(goal.position[:2] - turned,
                 float(goal.position[2] + task.grasp_above_centre + PLACE_DROP),
                 hand_yaw + turn)


def plan_segments(ee_start: np.ndarray, yaw_start: float, held: Pose, task: Task, place: Place,
                  gripper: GripperSpec, control_hz: float) -> list[Segment]:
    """The segments of one pick and place from the current grasp point position and yaw.

    The gripper opens to the profile's open position and closes towards its closed one: past
    the object's width, so it squeezes the object.
    """
    opened, closed = gripper.open, gripper.closed
    pick_xy, grasp_yaw = held.position[:2], wrap_quarter_turn(held.yaw)
    above_pick = np.array([*pick_xy, HOVER_Z])
    at_pick = np.array([*pick_xy, held.position[2] + task.grasp_above_centre])
    above_place = np.array([*place.xy, HOVER_Z])
    at_place = np.array([*place.xy, place.z])

    def move(name, a, b, yaws, speed, minimum, gripper_target, expectation):
        ticks = max(minimum, int(np.ceil(np.linalg.norm(b - a) / speed * control_hz)),
                    int(np.ceil(abs(yaws[1] - yaws[0]) / TURN_SPEED * control_hz)))
        return Segment(name, a, b, yaws[0], yaws[1], ticks, gripper_target, expectation)

    # From low down (a replan after a slipped grasp) rise first, so the approach does not
    # sweep the fingers across the table and the object.
    clear = np.array([ee_start[0], ee_start[1], max(ee_start[2], HOVER_Z)])
    rise = [move("rise", ee_start, clear, (yaw_start,) * 2, FINE_SPEED, 3, opened, "free")] \
        if ee_start[2] < HOVER_Z - 0.03 else []
    pick, turn = (grasp_yaw,) * 2, (grasp_yaw, place.yaw)
    at = (place.yaw,) * 2
    return rise + [
        move("approach", clear, above_pick, (yaw_start, grasp_yaw), TRANSIT_SPEED, 8, opened,
             "start"),
        move("descend", above_pick, at_pick, pick, FINE_SPEED, 6, opened, "start"),
        move("grasp", at_pick, at_pick, pick, 1.0, 5, closed, "free"),
        move("lift", at_pick, above_pick, pick, FINE_SPEED, 6, closed, "hand"),
        move("carry", above_pick, above_place, turn, TRANSIT_SPEED, 8, closed, "hand"),
        move("lower", above_place, at_place, at, FINE_SPEED, 5, closed, "hand"),
        move("release", at_place, at_place, at, 1.0, 4, opened, "free"),
        move("retreat", at_place, above_place, at, FINE_SPEED, 5, opened, "free"),
    ]


def ease(fraction: float) -> float:
    """Smoothstep: zero velocity at both ends of a segment."""
    f = min(max(fraction, 0.0), 1.0)
    return f * f * (3.0 - 2.0 * f)


class ScriptedExpert:
    """``act(joint_positions, held, goal)`` -> next joint target, for one task."""

    def __init__(self, profile: RobotProfile, task: str | Task = DEFAULT_TASK,
                 kinematics: Kinematics | None = None):
        self.profile = profile
        self.task = get_task(task) if isinstance(task, str) else task
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
        self.planned_xy: np.ndarray | None = None

    @property
    def phase(self) -> str:
        if not self.plan:
            return "idle"
        return self.plan[self.segment].name if self.segment < len(self.plan) else "done"

    def act(self, joint_positions: np.ndarray, held: Pose, goal: Pose) -> np.ndarray:
        q = np.asarray(joint_positions, dtype=float)
        if not self.plan or self._off_plan(q, held, goal):
            self._replan(q, held, goal)
        if self.segment >= len(self.plan):
            return self.command.copy()
        if self.phase == "carry" and self.tick == 0:
            self._replan_place(q, held, goal)
        segment = self.plan[self.segment]
        self.tick += 1
        f = ease(self.tick / segment.ticks)
        point = segment.start + f * (segment.end - segment.start)
        yaw = segment.yaw_start + f * (segment.yaw_end - segment.yaw_start)
        desired = self.kinematics.inverse(point, hand_quaternion(yaw), self.command)
        desired[self.gripper_slot] = segment.gripper
        self.command = self.command + np.clip(desired - self.command, -self.max_step,
                                              self.max_step)
        if self.tick >= segment.ticks:
            self.segment, self.tick = self.segment + 1, 0
        return self.command.copy()

    def _hand(self, q: np.ndarray) -> tuple[np.ndarray, float]:
        ee, quaternion = self.kinematics.forward(q)
        return ee, yaw_of(quaternion)

    def _replan(self, q: np.ndarray, held: Pose, goal: Pose) -> None:
        if self.plan:
            self.replans += 1
        ee, yaw = self._hand(q)
        grasp_yaw = wrap_quarter_turn(held.yaw)
        # Planned as if the grasp were perfect: the hand centred on the object, turned to it.
        place = place_for(self.task, Pose(np.array([*held.position[:2], 0.0]), held.yaw), goal,
                          held.position[:2], grasp_yaw)
        self.plan = plan_segments(ee, yaw, held, self.task, place, self.gripper,
                                  self.profile.control_hz)
        self.segment, self.tick = 0, 0
        self.command = q.copy()
        self.planned_xy = held.position[:2].copy()

    def _replan_place(self, q: np.ndarray, held: Pose, goal: Pose) -> None:
        """Re-aims carry, lower, release and retreat from where the object sits in the hand."""
        ee, yaw = self._hand(q)
        place = place_for(self.task, held, goal, ee[:2], yaw)
        fresh = plan_segments(ee, yaw, held, self.task, place, self.gripper,
                              self.profile.control_hz)
        carry = next(i for i, s in enumerate(fresh) if s.name == "carry")
        start = self.plan[self.segment]
        fresh[carry] = Segment("carry", start.start, fresh[carry].end, yaw,
                               fresh[carry].yaw_end, fresh[carry].ticks, start.gripper, "hand")
        self.plan = self.plan[:self.segment] + fresh[carry:]

    def _off_plan(self, q: np.ndarray, held: Pose, goal: Pose) -> bool:
        """The world no longer matches the plan: it was reset, or the object got away."""
        if np.any(np.abs(q - self.command) > JOINT_SLACK):
            return True
        if self.segment >= len(self.plan):  # done: the object should stay on its goal
            return bool(np.linalg.norm(held.position[:2] - goal.position[:2]) > GOAL_SLACK)
        expectation = self.plan[self.segment].held
        if expectation == "start":
            return bool(np.linalg.norm(held.position[:2] - self.planned_xy) > OBJECT_SLACK)
        if expectation == "hand":
            ee, _ = self.kinematics.forward(q)
            grasped = held.position + np.array([0.0, 0.0, self.task.grasp_above_centre])
            return bool(np.linalg.norm(grasped - ee) > HAND_SLACK)
        return False
