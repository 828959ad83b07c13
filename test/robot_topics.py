"""The robot's side of a profile's topics, for ROS tests: joint states out, commands in.

Joint states go out split over the profile's joint-state topics as the simulator splits them;
commands come in per command group, in each group's interface, and are assembled into full
vectors (profile order) once every group's share of a tick has arrived.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import JointState

from lam_ros.core.commands import decode
from lam_ros.core.joint_merge import split_by_topic
from lam_ros.core.joints import reorder_by_name
from lam_ros.core.profile import CommandGroup, RobotProfile
from lam_ros.ros import qos
from lam_ros.ros.command_publisher import MESSAGE_CLASSES
from lam_ros.ros.convert import joint_state


class RobotTopics:
    def __init__(self, node: Node, profile: RobotProfile,
                 on_command: Callable[[np.ndarray], None] | None = None):
        self.profile = profile
        self.on_command = on_command
        self.joint_pubs = {topic: node.create_publisher(JointState, topic, qos.SENSOR)
                           for topic in profile.joint_state_topics}
        self.commands: list[np.ndarray] = []  # full vectors, one per tick
        self.messages: dict[str, list] = {g.topic: [] for g in profile.command_groups}
        self._latest = np.array(profile.home, dtype=np.float64)
        self._pending: set[str] = set()
        for group in profile.command_groups:
            node.create_subscription(MESSAGE_CLASSES[group.interface], group.topic,
                                     lambda msg, g=group: self._on_message(g, msg), qos.COMMAND)

    def publish_joint_states(self, positions: np.ndarray, stamp) -> None:
        names = list(self.profile.joint_names)
        positions = np.asarray(positions, dtype=np.float64)
        for topic, index in reversed(split_by_topic(self.profile, names).items()):
            self.joint_pubs[topic].publish(
                joint_state([names[k] for k in index], positions[index], None, stamp))

    def subscribed(self) -> bool:
        """Every joint-state topic has a subscriber (DDS matched)."""
        return all(p.get_subscription_count() > 0 for p in self.joint_pubs.values())

    def _on_message(self, group: CommandGroup, msg) -> None:
        self.messages[group.topic].append(msg)
        command = decode(group, msg)
        self._latest[self.profile.slots(group)] = reorder_by_name(
            command.joint_names, command.points[-1][1], group.joints)
        self._pending.add(group.name)
        if len(self._pending) == len(self.profile.command_groups):
            self._pending.clear()
            self.commands.append(self._latest.copy())
            if self.on_command is not None:
                self.on_command(self._latest.copy())
