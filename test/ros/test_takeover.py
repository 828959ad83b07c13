"""Operator takeover over real DDS: policy_node drives, the operator holds teleop's deadman and
teleop_node drives, the operator lets go and policy_node drives again (issue: corrections).

Both nodes command the same robot; /command_source says who sent each command. The switch must
be clean: never both in the same stretch, teleop's first command within a period or so of the
policy's last, and the policy's first command after the release within the velocity limit of
where teleop left the arm.
"""

import threading

import numpy as np
import pytest
from onnx_models import hold_model
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from robot_topics import RobotTopics
from sensor_msgs.msg import Image, Joy
from std_msgs.msg import String
from std_srvs.srv import SetBool
from waiting import wait_for

from lam_ros.core.teleop import TeleopConfig
from lam_ros.nodes.policy_node import PolicyNode
from lam_ros.nodes.teleop_node import TeleopNode
from lam_ros.policy.controller import TAKEN_OVER
from lam_ros.ros import qos
from lam_ros.ros.convert import rgb_to_image

pytestmark = pytest.mark.ros


class Robot(Node):
    """Joint states that follow the last command, a camera, the operator's pad, and a log of
    (command, source) as they arrive."""

    def __init__(self, context, profile):
        super().__init__("takeover_robot", context=context)
        self.profile = profile
        self.positions = np.array(profile.home, dtype=float)
        self.topics = RobotTopics(self, profile, self.on_command)
        self.cameras = {c: self.create_publisher(Image, c.topic, qos.SENSOR)
                        for c in profile.cameras}
        self.joy = self.create_publisher(Joy, "/joy", 10)
        self.axes, self.buttons = [0.0, 0.0, 0.0, 0.0, 1.0, 1.0], [0] * 15
        self.sources: list[str] = []
        self.create_subscription(String, "/command_source",
                                 lambda m: self.sources.append(m.data), 10)
        self.enable = self.create_client(SetBool, "/policy_node/enable")
        self.create_timer(0.02, self.publish)

    def on_command(self, command):
        self.positions = command

    def publish(self):
        stamp = self.get_clock().now().to_msg()
        self.topics.publish_joint_states(self.positions, stamp)
        for camera, publisher in self.cameras.items():
            rgb = np.full((camera.height, camera.width, 3), 90, np.uint8)
            publisher.publish(rgb_to_image(rgb, stamp, camera.name))
        self.joy.publish(Joy(axes=list(self.axes), buttons=list(self.buttons)))


def runs(sources):
    """['a', 'a', 'b', 'a'] -> ['a', 'b', 'a']."""
    return [s for i, s in enumerate(sources) if i == 0 or sources[i - 1] != s]


def test_teleop_takes_over_and_hands_back(tmp_path, profile, rclpy_context):
    teleop_config = TeleopConfig(profile=profile.name)
    policy = PolicyNode(context=rclpy_context, parameter_overrides=[
        Parameter("model", value=str(hold_model(tmp_path / "hold.onnx", profile))),
        Parameter("profile", value=profile.name),
        Parameter("takeover_button", value=teleop_config.deadman_button),
        Parameter("stale_after_periods", value=20.0)])
    teleop = TeleopNode(context=rclpy_context,
                        parameter_overrides=[Parameter("profile", value=profile.name)])
    robot = Robot(rclpy_context, profile)
    executor = SingleThreadedExecutor(context=rclpy_context)
    for node in (policy, teleop, robot):
        executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        assert robot.enable.wait_for_service(timeout_sec=10)
        future = robot.enable.call_async(SetBool.Request(data=True))
        wait_for(future.done, what="~/enable")
        wait_for(lambda: robot.sources.count("policy") >= 5, what="the policy driving")
        controller = policy.controller  # destroying the node releases it

        robot.buttons[teleop_config.deadman_button] = 1  # the operator takes over...
        robot.axes[teleop_config.axis_z] = 1.0  # ...and lifts the hand
        wait_for(lambda: robot.sources.count("teleop") >= 10, what="teleop driving")
        assert controller.last_reason == TAKEN_OVER
        moved_to = robot.positions.copy()

        robot.axes[teleop_config.axis_z] = 0.0
        robot.buttons[teleop_config.deadman_button] = 0  # ...and hands back
        handed_back = len(robot.topics.commands)
        wait_for(lambda: robot.sources[-5:] == ["policy"] * 5, what="the policy again")
    finally:
        executor.shutdown()
        spinner.join(timeout=5)
        for node in (policy, teleop, robot):
            node.destroy_node()

    assert runs(robot.sources) == ["policy", "teleop", "policy"]  # never both at once
    _, _, max_step = limits(profile)
    after = np.array(robot.topics.commands[handed_back - 1:])  # teleop's last, then the policy's
    assert np.all(np.abs(np.diff(after, axis=0)) <= max_step + 1e-9)
    assert not np.allclose(moved_to, profile.home, atol=1e-3)  # teleop did move the arm
    assert sum(controller.safety.fault_counts.values()) == 0
    assert controller.takeovers == 1


def limits(profile):
    lower = np.array([j.lower for j in profile.joints])
    upper = np.array([j.upper for j in profile.joints])
    return lower, upper, np.array([j.max_velocity for j in profile.joints]) / profile.control_hz
