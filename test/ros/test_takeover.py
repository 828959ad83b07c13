"""Operator takeover over real DDS: policy_node drives, the operator holds teleop's deadman and
teleop_node drives, the operator lets go and policy_node drives again (issue: corrections).

Both nodes command the same robot; /command_source says who sent each command. The switch must
be clean: never both in the same stretch, teleop's first command within a period or so of the
policy's last, and the policy's first command after the release within the velocity limit of
where teleop left the arm. The operator's START and A buttons record the episode through the
real recorder_node, and the bag, converted for training, labels the policy's ticks and the
operator's.
"""

import json
import threading
import time

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
from lam_ros.data.bag_info import find_episodes
from lam_ros.data.cache import convert_dataset
from lam_ros.launcher import NodeGroup, NodeSpec
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
        self.held_gripper: tuple[int, float] | None = None  # (slot, position) fingers stay at
        self.topics = RobotTopics(self, profile, self.on_command)
        self.cameras = {c: self.create_publisher(Image, c.topic, qos.SENSOR)
                        for c in profile.cameras}
        self.joy = self.create_publisher(Joy, "/joy", 10)
        self.axes, self.buttons = [0.0, 0.0, 0.0, 0.0, 1.0, 1.0], [0] * 15
        self.sources: list[str] = []
        self.create_subscription(String, "/command_source",
                                 lambda m: self.sources.append(m.data), 10)
        self.recorder: dict = {}
        self.create_subscription(String, "/recorder_node/status",
                                 lambda m: setattr(self, "recorder", json.loads(m.data)),
                                 qos.STATUS)
        self.enable = self.create_client(SetBool, "/policy_node/enable")
        self.create_timer(0.02, self.publish)

    def press(self, button):
        """Down for a few pad messages (teleop acts on the rising edge), then up."""
        self.buttons[button] = 1
        time.sleep(0.1)
        self.buttons[button] = 0

    def on_command(self, command):
        self.positions = command
        if self.held_gripper is not None:  # fingers on an object stay where they are
            self.positions[self.held_gripper[0]] = self.held_gripper[1]

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
    recorder = NodeGroup([NodeSpec("recorder_node", params={
        "data_root": str(tmp_path / "data"), "task": "takeover", "status_period_s": 0.2,
        "profile": profile.name})], log_dir=tmp_path / "logs").start()
    policy = PolicyNode(context=rclpy_context, parameter_overrides=[
        Parameter("model", value=str(hold_model(tmp_path / "hold.onnx", profile))),
        Parameter("profile", value=profile.name),
        Parameter("takeover_button", value=teleop_config.deadman_button),
        Parameter("stale_after_periods", value=20.0)])
    teleop = TeleopNode(context=rclpy_context,
                        parameter_overrides=[Parameter("profile", value=profile.name)])
    robot = Robot(rclpy_context, profile)
    gripper, ends = profile.slots(profile.grippers[0])[0], profile.grippers[0].gripper
    executor = SingleThreadedExecutor(context=rclpy_context)
    for node in (policy, teleop, robot):
        executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        wait_for(lambda: robot.recorder.get("recording") is False or recorder.dead(),
                 timeout=60, what="the recorder's status")
        # The operator's last gripper press was "open" (say, the end of an earlier place)...
        robot.buttons[teleop_config.deadman_button] = 1
        wait_for(lambda: robot.sources.count("teleop") >= 3, what="teleop engaged")
        robot.press(teleop_config.gripper_open_button)
        robot.buttons[teleop_config.deadman_button] = 0
        wait_for(lambda: teleop.driver.engaged is False, what="teleop released")
        robot.held_gripper = (gripper, ends.closed)  # ...and the fingers are closed: the
        robot.positions[gripper] = ends.closed  # policy holds them there
        assert robot.enable.wait_for_service(timeout_sec=10)
        future = robot.enable.call_async(SetBool.Request(data=True))
        wait_for(future.done, what="~/enable")
        wait_for(lambda: robot.sources.count("policy") >= 5, what="the policy driving")
        controller = policy.controller  # destroying the node releases it
        wait_for(lambda: "/command_source" in robot.recorder.get("topics", ()), timeout=30,
                 what="the recorder subscribed to /command_source")
        robot.press(teleop_config.start_button)  # the operator starts an episode
        wait_for(lambda: robot.recorder.get("recording"), timeout=30, what="recording")
        time.sleep(1.0)  # the policy drives a while in the episode

        took_over = len(robot.topics.commands)
        teleop_before = robot.sources.count("teleop")
        robot.buttons[teleop_config.deadman_button] = 1  # the operator takes over...
        robot.axes[teleop_config.axis_z] = 1.0  # ...and lifts the hand
        wait_for(lambda: robot.sources.count("teleop") >= teleop_before + 10,
                 what="teleop driving")
        assert controller.last_reason == TAKEN_OVER
        moved_to = robot.positions.copy()

        robot.axes[teleop_config.axis_z] = 0.0
        robot.buttons[teleop_config.deadman_button] = 0  # ...and hands back
        handed_back = len(robot.topics.commands)
        wait_for(lambda: robot.sources[-5:] == ["policy"] * 5, what="the policy again")
        time.sleep(1.0)
        robot.press(teleop_config.stop_success_button)  # the operator ends it: success
        wait_for(lambda: robot.recorder.get("recording") is False, timeout=30,
                 what="the episode closed")
    finally:
        executor.shutdown()
        spinner.join(timeout=5)
        for node in (policy, teleop, robot):
            node.destroy_node()
        recorder.stop()

    # never both at once (the first teleop run is the operator's press before the policy)
    assert runs(robot.sources) == ["teleop", "policy", "teleop", "policy"]
    # The operator's take-over kept the policy's grasp: the gripper never opened towards the
    # end the operator last pressed.
    taken = np.array(robot.topics.commands[took_over:handed_back])
    assert np.allclose(taken[:, gripper], ends.closed), taken[:, gripper]
    _, _, max_step = limits(profile)
    after = np.array(robot.topics.commands[handed_back - 1:])  # teleop's last, then the policy's
    assert np.all(np.abs(np.diff(after, axis=0)) <= max_step + 1e-9)
    assert not np.allclose(moved_to, profile.home, atol=1e-3)  # teleop did move the arm
    assert sum(controller.safety.fault_counts.values()) == 0
    assert controller.takeovers == 1

    # The bag labels both: converted for training, the ticks run policy, operator, policy.
    episodes = find_episodes(tmp_path / "data" / "takeover")
    assert len(episodes) == 1
    episode = convert_dataset(tmp_path / "data", profile, cache_dir=tmp_path / "cache",
                              progress=False).episodes[0]
    assert episode.policy_ticks is not None
    labels = ["policy" if p else "teleop" for p in episode.policy_ticks]
    assert runs(labels) == ["policy", "teleop", "policy"], labels
    assert labels.count("teleop") >= 5 and labels.count("policy") >= 10


def limits(profile):
    lower = np.array([j.lower for j in profile.joints])
    upper = np.array([j.upper for j in profile.joints])
    return lower, upper, np.array([j.max_velocity for j in profile.joints]) / profile.control_hz

