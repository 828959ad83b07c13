"""Joint positions assembled by name from several JointState topics.

Real arms often report the gripper on its own topic (a separate driver, another rate). The first
topic of the profile's ``joint_state_topics`` is the base: each of its messages yields one merged
reading, stamped with its own stamp, with every other joint taken from the latest message of the
topic that carries it. Each other topic must be no older than ``max_age_s`` at that stamp; a stale
source is named in the error, so a silent gripper driver holds the robot instead of feeding it an
old opening. With one topic this is plain reordering by name.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lam_ros.core.joints import MissingJointError, reorder_by_name
from lam_ros.core.profile import RobotProfile


class StaleSourceError(ValueError):
    """A joint-state topic the merge needs is missing or too old."""


class JointStateMerge:
    def __init__(self, joint_names: Sequence[str], topics: Sequence[str], max_age_s: float):
        self.joint_names = tuple(joint_names)
        self.topics = tuple(topics)
        self.max_age_s = max_age_s
        # topic -> (stamp s, {joint: position}) of its latest message, profile joints only
        self.latest: dict[str, tuple[float, dict[str, float]]] = {}

    @property
    def base(self) -> str:
        return self.topics[0]

    @property
    def heard_all(self) -> bool:
        """Every topic has delivered a message (before that, a missing source is expected)."""
        return len(self.latest) == len(self.topics)

    def add(self, topic: str, names: Sequence[str], positions: np.ndarray,
            stamp_s: float) -> np.ndarray | None:
        """Takes one message; returns the merged positions (profile order) when ``topic`` is the
        base, None otherwise. Raises MissingJointError or StaleSourceError naming the problem."""
        positions = np.asarray(positions, dtype=np.float64)
        if len(self.topics) == 1:
            return reorder_by_name(names, positions, self.joint_names)
        if len(names) != positions.size:
            raise ValueError(f"{len(names)} joint names but {positions.size} values")
        ours = {n: float(v) for n, v in zip(names, positions, strict=True)
                if n in self.joint_names}
        if not ours:
            raise MissingJointError(f"{topic}: none of the profile's joints "
                                    f"{list(self.joint_names)}; message has {list(names)}")
        self.latest[topic] = (stamp_s, ours)
        return self._merge(stamp_s) if topic == self.base else None

    def _merge(self, stamp_s: float) -> np.ndarray:
        values: dict[str, float] = {}
        for topic in self.topics:
            if topic not in self.latest:
                raise StaleSourceError(f"no joint state from {topic} yet")
            stamp, ours = self.latest[topic]
            if topic != self.base and stamp_s - stamp > self.max_age_s:
                raise StaleSourceError(f"{topic} is {stamp_s - stamp:.3f} s older than {self.base}"
                                       f" (limit {self.max_age_s:.3f} s)")
            values.update(ours)
        missing = [n for n in self.joint_names if n not in values]
        if missing:
            raise MissingJointError(f"joint(s) {missing} missing from {list(self.topics)}")
        return np.array([values[n] for n in self.joint_names])


def split_by_topic(profile: RobotProfile, names: Sequence[str]) -> dict[str, list[int]]:
    """How a robot with separate gripper drivers reports ``names``: topic -> indices into them.

    Gripper k (its joint and mirrors) on joint-state topic k + 1 when the profile lists one,
    everything else on the first: what the simulator publishes, the inverse of the merge."""
    split: dict[str, list[int]] = {topic: [] for topic in profile.joint_state_topics}
    owner = {}
    for topic, group in zip(profile.joint_state_topics[1:], profile.grippers, strict=False):
        for name in (*group.joints, *group.gripper.mimic_joints):
            owner[name] = topic
    for k, name in enumerate(names):
        split[owner.get(name, profile.joint_state_topics[0])].append(k)
    return split
