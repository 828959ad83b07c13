"""The one way lam_ros nodes command a robot (teleop, policy, expert): one publisher per command
group of the profile, each in its group's interface.

A forward_command_controller takes a Float64MultiArray, a joint_trajectory_controller a
JointTrajectory with one point reached a control period after its stamp, a single-value gripper
driver a Float64. Every command expires: a JointTrajectory is stamped with the time it was
decided for (a controller drops one that arrives after it ended), and every publisher's QoS
lifespan is one control period, so DDS never delivers or re-sends a command after its slot.
With a ``source`` name, every command also goes out as that name on ``/command_source``
(std_msgs/String), so the recorder and people can see who commanded the robot at each tick.
"""

from __future__ import annotations

import numpy as np
from rclpy.node import Node
from std_msgs.msg import Float64, Float64MultiArray, String
from trajectory_msgs.msg import JointTrajectory

from lam_ros.core import features
from lam_ros.core.profile import CommandGroup, RobotProfile
from lam_ros.ros import qos
from lam_ros.ros.convert import float64_command, sec_to_stamp, trajectory_command

MESSAGE_CLASSES = {"float64_multi_array": Float64MultiArray, "joint_trajectory": JointTrajectory,
                   "float64": Float64}


def group_message(group: CommandGroup, values: np.ndarray, decided_at_s: float,
                  period_s: float):
    """One group's command message for targets ``values`` (the group's joint order)."""
    if group.timed:
        return trajectory_command(group.joints, [(period_s, values)], sec_to_stamp(decided_at_s))
    if group.interface == "float64":
        return Float64(data=float(values[0]))
    return float64_command(values)


class CommandPublisher:
    def __init__(self, node: Node, profile: RobotProfile, managed: bool = False,
                 source: str = ""):
        """``managed``: lifecycle publishers of a LifecycleNode, silent unless it is active.
        ``source``: who commands ("teleop", "policy"), published with every command."""
        self.profile = profile
        create = node.create_lifecycle_publisher if managed else node.create_publisher
        self.groups = [(group, profile.slots(group),
                        create(MESSAGE_CLASSES[group.interface], group.topic,
                               qos.command(profile.control_period)))
                       for group in profile.command_groups]
        self.source = String(data=source)
        self.source_publisher = (create(String, features.COMMAND_SOURCE_TOPIC, 10) if source
                                 else None)

    def publish(self, positions: np.ndarray, decided_at_s: float) -> None:
        """Joint targets (profile order) decided for ROS time ``decided_at_s``: every group's
        share goes out on its own topic."""
        positions = np.asarray(positions, dtype=np.float64)
        for group, slots, publisher in self.groups:
            publisher.publish(group_message(group, positions[slots], decided_at_s,
                                            self.profile.control_period))
        if self.source_publisher is not None:
            self.source_publisher.publish(self.source)
