"""A simulated person watching a policy drive, who takes over with the gamepad when it goes wrong.

After a moment (as a person, and so teleop_node has seen an untouched pad before the first press:
it acts on presses, not on a button found down) it presses START (the recorder starts the episode),
then watches the task's progress from what it saw ``reaction_s`` ago: the hand's distance to the
object while the object is not in the hand, the object's distance to its goal while it is, across
the table and in height apart, and, with the object in hand, how high it was lifted up to a
clearance (the lift before the carry is progress too, however slow). When none has improved by
``MIN_PROGRESS_M`` in ``PATIENCE_S`` (the policy stalls or dithers), or the distance across grew by
``WRONG_WAY_M`` over its best in the last ``PATIENCE_S`` (it heads the wrong way), the person
(unless the object already sits at its goal and the hand is away from it, waiting for the verdict)
holds the deadman (policy_node yields at once, teleop drives) and steers as the joystick operator
does (``sim/operator.py``): to the object, grasp and lift, then lets go so the policy carries on; a
take-over with the object in hand is seen through to the place. A success is answered with A, the
time limit with B. Every choice is seeded; pure: no ROS.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from lam_ros.core.profile import RobotProfile
from lam_ros.core.teleop import TeleopConfig
from lam_ros.kinematics import Kinematics
from lam_ros.sim.operator import CARRY, JoyFrame, JoystickOperator, OperatorStyle, idle_frame
from lam_ros.sim.tasks import Pose, Task

DEMONSTRATE, CORRECT = "demonstrate", "correct"  # what a simulated person does (operator_node)
PATIENCE_S = 3.0  # sim seconds without progress before the person steps in
MIN_PROGRESS_M = 0.02
WRONG_WAY_M = 0.05
PLACED_M = 0.02  # the object this close to its goal, out of the hand: placed
LIFT_CLEARANCE_M = 0.05  # a lift counts as progress up to this height above the goal's


class CorrectingOperator:
    """``act(now_s, joint_positions, held, goal, success)`` -> the Joy message to publish;
    ``in_control`` while the person drives, ``human_s`` the sim seconds it did."""

    def __init__(self, profile: RobotProfile, task: Task, style: str | OperatorStyle,
                 seed: int, time_limit_s: float, kinematics: Kinematics | None = None,
                 mapping: TeleopConfig | None = None):
        self.driver = JoystickOperator(profile, task, style, seed, time_limit_s, kinematics,
                                       mapping)
        self.style, self.mapping = self.driver.style, self.driver.mapping
        self.kinematics, self.task = self.driver.kinematics, task
        self.time_limit_s = time_limit_s
        # (t, (across, height), holding, placed, success)
        self.seen: deque[tuple[float, np.ndarray, bool, bool, bool]] = deque()
        self.progress: deque[tuple[float, np.ndarray, bool]] = deque()  # (t, distance, holding)
        self.presses: deque[int] = deque()
        self.held_button: int | None = None
        self.start_s: float | None = None  # when the person presses START
        self.started = False
        self.in_control = False
        self.takeovers = 0
        self.human_s = 0.0
        self.last_s: float | None = None
        self.took_over_holding = False
        self.outcome = ""
        self.answer_at: float | None = None  # when the person presses A for a success it saw

    @property
    def phase(self) -> str:
        if self.outcome:
            return "done"
        return f"correcting:{self.driver.phase}" if self.in_control else "watching"

    @property
    def finished(self) -> bool:
        if self.in_control:
            return self.driver.finished
        return bool(self.outcome) and not self.presses and self.held_button is None

    def act(self, now_s: float, joint_positions: np.ndarray, held: Pose, goal: Pose,
            success: bool) -> JoyFrame:
        if self.start_s is None:
            self.start_s = now_s + self.driver.rng.uniform(*self.style.idle_before_s)
        if now_s < self.start_s:
            return idle_frame()
        if not self.started:
            self.started = True
            self.presses.append(self.mapping.start_button)
        if self.in_control and self.last_s is not None:
            self.human_s += now_s - self.last_s
        self.last_s = now_s
        if self.in_control:
            frame = self.driver.act(now_s, joint_positions, held, goal, success)
            self.outcome = self.driver.outcome
            if self.driver.phase == CARRY and not (self.outcome or self.took_over_holding):
                self.in_control = False  # the object is in hand: the policy carries on
                self.seen.clear()
            return frame
        hand, _ = self.kinematics.forward(np.asarray(joint_positions, dtype=float))
        holding = self.driver.holding(hand, held)
        placed = not holding and np.linalg.norm(held.position - goal.position) < PLACED_M
        self.seen.append((now_s, self._distance(hand, held, goal, holding), holding,
                          bool(placed), success))
        while len(self.seen) > 1 and self.seen[1][0] <= now_s - self.style.reaction_s:
            self.seen.popleft()
        self._watch(now_s, *self.seen[0])
        return self._frame()

    def _distance(self, hand: np.ndarray, held: Pose, goal: Pose, holding: bool) -> np.ndarray:
        """How far the task has to go, each shrinking with progress: (across the table, in
        height, minus the lift): the object to its goal with it in hand (then minus how far it
        is lifted above its goal's height, up to LIFT_CLEARANCE_M: lifting it clear is progress,
        bobbing up and down higher is not), else the hand to the object (lift 0)."""
        here, there = (held.position, goal.position) if holding else (
            hand, held.position + np.array([0.0, 0.0, self.task.grasp_above_centre]))
        lift = (min(max(held.position[2] - goal.position[2], 0.0), LIFT_CLEARANCE_M)
                if holding else 0.0)
        return np.array([np.linalg.norm(there[:2] - here[:2]), abs(here[2] - there[2]), -lift])

    def _watch(self, now: float, seen_at: float, distance: np.ndarray, holding: bool,
               placed: bool, success: bool) -> None:
        if self.outcome:
            return
        if success:  # a moment to be sure, then A
            if self.answer_at is None:
                self.answer_at = now + self.driver.rng.uniform(*self.style.idle_after_s)
            if now >= self.answer_at:
                self._end("success", self.mapping.stop_success_button)
            return
        self.answer_at = None
        if now - self.start_s > self.time_limit_s:
            self._end("failure", self.mapping.stop_failure_button)
            return
        if placed or (self.progress and self.progress[-1][2] != holding):
            self.progress.clear()  # nothing to correct; or grasped or lost it: watch anew
            if placed:
                return
        self.progress.append((seen_at, distance, holding))
        while self.progress[0][0] < seen_at - PATIENCE_S:
            self.progress.popleft()
        if seen_at - self.progress[0][0] < PATIENCE_S - 0.5:
            return  # not watched long enough yet
        best = np.min([d for _, d, _ in self.progress], axis=0)
        stalled = np.all(self.progress[0][1] - best < MIN_PROGRESS_M)
        wrong_way = distance[0] - best[0] > WRONG_WAY_M
        if stalled or wrong_way:
            self.in_control, self.took_over_holding = True, holding
            self.takeovers += 1
            self.progress.clear()
            self.driver.take_over(now, holding)
            self.driver.time_limit_s = self.time_limit_s - (now - self.start_s)

    def _end(self, outcome: str, button: int) -> None:
        self.outcome = outcome
        self.presses.append(button)

    def _frame(self) -> JoyFrame:
        """An untouched pad but for one press at a time (down, then up), as the operator's."""
        frame = idle_frame()
        if self.held_button is not None:
            self.held_button = None
        elif self.presses:
            self.held_button = self.presses.popleft()
            frame.buttons[self.held_button] = 1
        return frame
