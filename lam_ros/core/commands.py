"""Command messages of a command group, by interface: the one place the interface is branched on.

Works on any object with the message's fields (rclpy messages and the bag reader's alike). Also
what a robot's side sees: the topics a profile's episodes record, and full command vectors put
together from the groups' messages of each tick.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lam_ros.core.joints import reorder_by_name
from lam_ros.core.profile import CommandGroup, RobotProfile

MESSAGE_TYPES = {
    "float64_multi_array": "std_msgs/msg/Float64MultiArray",
    "joint_trajectory": "trajectory_msgs/msg/JointTrajectory",
    "float64": "std_msgs/msg/Float64",
}


@dataclass(frozen=True)
class GroupCommand:
    """A decoded command: (time_from_start s, positions in ``joint_names`` order) points.

    ``stamp_ns`` is the header stamp (0 when the message has none, or "start now")."""

    joint_names: tuple[str, ...]
    points: tuple[tuple[float, np.ndarray], ...]
    stamp_ns: int = 0


def decode(group: CommandGroup, msg) -> GroupCommand:
    """The command a ``group.interface`` message carries; values are not checked here."""
    if group.timed:
        stamp = msg.header.stamp
        points = tuple((p.time_from_start.sec + p.time_from_start.nanosec * 1e-9,
                        np.asarray(p.positions, dtype=np.float64).ravel()) for p in msg.points)
        return GroupCommand(tuple(msg.joint_names), points, stamp.sec * 10**9 + stamp.nanosec)
    values = np.asarray(msg.data, dtype=np.float64).ravel()  # Float64 has one value
    return GroupCommand(group.joints, ((0.0, values),))


def profile_topics(profile: RobotProfile) -> dict[str, str]:
    """Topic -> message type that every episode of this robot records."""
    # Subscriptions are made in this order, and a single-threaded executor serves messages that
    # are ready together in that order: commands first, so a command is logged before the
    # joint state its execution produced (a lockstep sim answers within milliseconds).
    topics = {group.topic: MESSAGE_TYPES[group.interface] for group in profile.command_groups}
    topics.update({topic: "sensor_msgs/msg/JointState" for topic in profile.joint_state_topics})
    for cam in profile.cameras:
        image_type = "CompressedImage" if cam.compressed else "Image"
        topics[cam.topic] = f"sensor_msgs/msg/{image_type}"
    return topics


class CommandAssembler:
    """Full command vectors (profile order) from per-group messages: one vector once every
    group's share of a tick has arrived; a group's trajectory counts by its last point."""

    def __init__(self, profile: RobotProfile):
        self.profile = profile
        self.latest = np.array(profile.home, dtype=np.float64)
        self.pending: set[str] = set()

    def add(self, group: CommandGroup, msg) -> np.ndarray | None:
        """Raises (MissingJointError, ValueError, IndexError) on a message that does not fit."""
        command = decode(group, msg)
        values = reorder_by_name(command.joint_names, command.points[-1][1], group.joints)
        self.latest[self.profile.slots(group)] = values
        self.pending.add(group.name)
        if len(self.pending) < len(self.profile.command_groups):
            return None
        self.pending.clear()
        return self.latest.copy()
