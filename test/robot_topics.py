"""The robot's side of a profile's topics, for ROS tests: joint states out, commands in.

Joint states go out split over the profile's joint-state topics as the simulator splits them;
commands come in per command group, in each group's interface, and are assembled into full
vectors (profile order) once every group's share of a tick has arrived.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from rclpy.node import Node

from lam_ros.core.commands import CommandAssembler
from lam_ros.core.profile import CommandGroup, RobotProfile
from lam_ros.ros import qos
from lam_ros.ros.command_publisher import MESSAGE_CLASSES
from lam_ros.ros.joint_states import JointStatePublisher


class RobotTopics:
    def __init__(self, node: Node, profile: RobotProfile,
                 on_command: Callable[[np.ndarray], None] | None = None):
        self.profile = profile
        self.on_command = on_command
        self.joint_states = JointStatePublisher(node, profile, list(profile.joint_names))
        self.commands: list[np.ndarray] = []  # full vectors, one per tick
        self.messages: dict[str, list] = {g.topic: [] for g in profile.command_groups}
        self.assembler = CommandAssembler(profile)
        for group in profile.command_groups:
            node.create_subscription(MESSAGE_CLASSES[group.interface], group.topic,
                                     lambda msg, g=group: self._on_message(g, msg), qos.COMMAND)

    def publish_joint_states(self, positions: np.ndarray, stamp) -> None:
        self.joint_states.publish(positions, None, stamp)

    def subscribed(self) -> bool:
        return self.joint_states.subscribed()

    def _on_message(self, group: CommandGroup, msg) -> None:
        self.messages[group.topic].append(msg)
        command = self.assembler.add(group, msg)
        if command is not None:
            self.commands.append(command)
            if self.on_command is not None:
                self.on_command(command.copy())
