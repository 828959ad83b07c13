"""How demonstrations were made, per episode and for a dataset: what `lam-ros bag report` prints.

Computed from each synchronized episode as training sees it (the measured joint positions on the
control grid, moved to the grasp point by forward kinematics):

- duration, and the idle share: ticks in which the hand moved less than ``IDLE_MPS`` (before the
  first motion, pauses, after the last), with the idle time before the first and after the last
  motion on their own;
- path length of the hand against the straightest path through the same points: start, where
  the gripper closed, where it opened, end (1.0 = straight lines between them);
- the hand's mean speed while it moved; the recorded outcome.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lam_ros.core.profile import RobotProfile

IDLE_MPS = 0.005  # the hand moving slower than this (m/s) counts as idle


@dataclass(frozen=True)
class DemoStats:
    episode: str
    outcome: str
    duration_s: float
    idle_share: float
    idle_before_s: float  # before the first motion
    idle_after_s: float  # after the last motion
    path_m: float
    straight_m: float
    speed_mps: float  # mean while moving

    @property
    def path_ratio(self) -> float:
        return self.path_m / self.straight_m if self.straight_m > 0 else float("nan")


def episode_stats(episode: str, outcome: str, joint_positions: np.ndarray,
                  actions: np.ndarray, profile: RobotProfile,
                  hand_of: Callable[[np.ndarray], np.ndarray]) -> DemoStats:
    """``hand_of(q)`` -> grasp point (m); ``actions`` locate the gripper's close and open."""
    period = profile.control_period
    hand = np.array([hand_of(q) for q in joint_positions])
    steps = np.linalg.norm(np.diff(hand, axis=0), axis=1)
    moving = steps > IDLE_MPS * period
    if moving.any():
        first, last = int(np.argmax(moving)), len(moving) - 1 - int(np.argmax(moving[::-1]))
        idle_before, idle_after = first * period, (len(moving) - 1 - last) * period
        speed = float(steps[moving].mean() / period)
    else:
        idle_before = idle_after = len(steps) * period
        speed = 0.0
    points = [hand[0], *(hand[i] for i in gripper_events(actions, profile)), hand[-1]]
    straight = float(np.linalg.norm(np.diff(np.array(points), axis=0), axis=1).sum())
    return DemoStats(episode, outcome, len(joint_positions) * period,
                     float(1.0 - moving.mean()) if len(moving) else 1.0, idle_before,
                     idle_after, float(steps.sum()), straight, speed)


def gripper_events(actions: np.ndarray, profile: RobotProfile) -> list[int]:
    """Ticks at which the first gripper was first commanded closed, then open again."""
    if not profile.grippers:
        return []
    group = profile.grippers[0]
    slot, spec = profile.slots(group)[0], group.gripper
    closing = np.abs(actions[:, slot] - spec.closed) < np.abs(actions[:, slot] - spec.open)
    if not closing.any():
        return []
    close = int(np.argmax(closing))
    reopened = np.flatnonzero(~closing[close:])
    return [close] + ([close + int(reopened[0])] if len(reopened) else [])


def summary_rows(stats: list[DemoStats]) -> list[tuple[str, str]]:
    """(what, value) for the dataset: counts by outcome and medians over episodes."""
    outcomes = {o: sum(s.outcome == o for s in stats) for o in sorted({s.outcome for s in stats})}

    def median(values) -> float:
        return float(np.median(values)) if stats else float("nan")

    return [
        ("episodes", f"{len(stats)} ({', '.join(f'{n} {o}' for o, n in outcomes.items())})"),
        ("duration, median", f"{median([s.duration_s for s in stats]):.1f} s"),
        ("idle share, median", f"{median([s.idle_share for s in stats]):.0%}"),
        ("idle before first motion, median", f"{median([s.idle_before_s for s in stats]):.1f} s"),
        ("idle after last motion, median", f"{median([s.idle_after_s for s in stats]):.1f} s"),
        ("hand path / straightest, median", f"{median([s.path_ratio for s in stats]):.2f}"),
        ("hand speed while moving, median", f"{median([s.speed_mps for s in stats]):.3f} m/s"),
    ]
