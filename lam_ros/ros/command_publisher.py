"""The one way lam_ros nodes command a robot (teleop, policy, expert).

The profile chooses the interface: a forward_command_controller's Float64MultiArray, or a
joint_trajectory_controller's JointTrajectory with one point reached a control period after its
stamp. Every command expires: a JointTrajectory is stamped with the time it was decided for (a
controller drops one that arrives after it ended), and the publisher's QoS lifespan is one
control period, so DDS never delivers or re-sends a command after its slot.
"""

from __future__ import annotations

import numpy as np
from rclpy.node import Node
from std_msgs.msg import Float64MultiArray
from trajectory_msgs.msg import JointTrajectory

from lam_ros.core.profile import RobotProfile
from lam_ros.ros import qos
from lam_ros.ros.convert import float64_command, sec_to_stamp, trajectory_command


class CommandPublisher:
    def __init__(self, node: Node, profile: RobotProfile):
        self.profile = profile
        self.trajectory = profile.command.interface == "joint_trajectory"
        self.publisher = node.create_publisher(
            JointTrajectory if self.trajectory else Float64MultiArray, profile.command.topic,
            qos.command(profile.control_period))

    def publish(self, positions: np.ndarray, decided_at_s: float) -> None:
        """Joint targets (profile order) decided for ROS time ``decided_at_s``."""
        if self.trajectory:
            self.publisher.publish(trajectory_command(
                self.profile.joint_names, [(self.profile.control_period, positions)],
                sec_to_stamp(decided_at_s)))
        else:
            self.publisher.publish(float64_command(positions))
