"""sim_node and expert_node as real processes over DDS: the expert solves an episode through the
ROS graph, and the simulated robot refuses malformed commands while following good ones."""

import json
import math
import threading
import time

import numpy as np
import pytest
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Bool, Float64MultiArray
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from lam_ros.launcher import NodeGroup, NodeSpec
from lam_ros.ros import qos
from lam_ros.ros.convert import float64_command, trajectory_command
from lam_ros.sim.world import cube_start_xy

pytestmark = pytest.mark.ros


def wait_for(condition, group, timeout, what):
    deadline = time.monotonic() + timeout
    while not condition():
        logs = "\n".join(f"--- {n}:\n{group.log(n)[-2000:]}" for n in group.procs)
        assert not group.dead(), f"node exited while waiting for {what}: {group.dead()}\n{logs}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}\n{logs}"
        time.sleep(0.05)


class Probe(Node):
    """Watches what sim_node publishes and sends it commands, as a controller client would."""

    def __init__(self, context, profile):
        super().__init__("sim_probe", context=context)
        self.success = False
        self.joints: JointState | None = None
        self.image: Image | None = None
        self.create_subscription(Bool, "/sim_node/task_success", self._on_success, qos.STATUS)
        self.create_subscription(JointState, profile.joint_states_topic, self._on_joints,
                                 qos.SENSOR)
        self.create_subscription(Image, profile.cameras[0].topic, self._on_image, qos.SENSOR)
        self.commands = self.create_publisher(Float64MultiArray, profile.command.topic,
                                              qos.COMMAND)
        self.trajectories = self.create_publisher(
            JointTrajectory, "/joint_trajectory_controller/joint_trajectory", qos.COMMAND)
        self.reset = self.create_client(Trigger, "/sim_node/reset")

    def _on_success(self, msg):
        self.success = msg.data

    def _on_joints(self, msg):
        self.joints = msg

    def _on_image(self, msg):
        self.image = msg

    def position(self, name):
        return self.joints.position[list(self.joints.name).index(name)]


@pytest.fixture
def probe(rclpy_context, profile):
    node = Probe(rclpy_context, profile)
    executor = SingleThreadedExecutor(context=rclpy_context)
    executor.add_node(node)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    yield node
    executor.shutdown()
    node.destroy_node()


def test_expert_solves_episodes_through_the_ros_graph_in_lockstep(probe, tmp_path):
    specs = [NodeSpec("sim_node", params={"seed": 1, "lockstep": True, "real_time_factor": 0.0}),
             NodeSpec("expert_node", use_sim_time=True)]
    with NodeGroup(specs, log_dir=tmp_path) as group:
        wait_for(lambda: probe.success, group, 40.0, "/sim_node/task_success = true")
        assert probe.image is not None and probe.image.encoding == "rgb8"
        assert (probe.image.width, probe.image.height) == (96, 96)
        assert len(probe.joints.name) == 9 and "panda_finger_joint2" in probe.joints.name
        # A reset puts the cube back at its start: the expert notices and solves it again.
        assert probe.reset.wait_for_service(timeout_sec=10.0)
        assert probe.reset.call(Trigger.Request(), timeout_sec=10.0).success
        wait_for(lambda: not probe.success, group, 10.0, "task_success = false after reset")
        wait_for(lambda: probe.success, group, 40.0, "task_success = true again")


def test_sim_rejects_bad_commands_holds_and_follows_trajectories(probe, profile, tmp_path):
    specs = [NodeSpec("sim_node", params={"seed": 7, "real_time_factor": 2.0})]
    home = np.array(profile.home)
    with NodeGroup(specs, log_dir=tmp_path) as group:
        wait_for(lambda: probe.joints is not None, group, 20.0, "joint states")
        target = home.copy()
        target[0] = 0.3

        def command_reached():
            probe.commands.publish(float64_command(target))
            return abs(probe.position("panda_joint1") - 0.3) < 0.01
        wait_for(command_reached, group, 15.0, "panda_joint1 to reach a good command")

        nan_command = target.copy()
        nan_command[0] = math.nan

        # Warnings are throttled (one per 2 s), so show the sim one kind of bad command at a
        # time and keep sending it until its warning appears.
        for bad, warning in [(float64_command(nan_command), "non-finite"),
                             (Float64MultiArray(data=[-0.3] * 7), "7 values for 8 joints")]:

            def rejection_logged(bad=bad, warning=warning):
                probe.commands.publish(bad)
                return warning in group.log("sim_node")
            wait_for(rejection_logged, group, 15.0, f"the sim to log {warning!r}")
        assert probe.position("panda_joint1") == pytest.approx(0.3, abs=0.01)  # held

        names = list(reversed(profile.joint_names))  # by name, in any order
        goal = home.copy()
        goal[0] = -0.3

        def trajectory_reached():
            probe.trajectories.publish(trajectory_command(names, [(0.1, goal[::-1])],
                                                          probe.get_clock().now().to_msg()))
            return abs(probe.position("panda_joint1") + 0.3) < 0.01
        wait_for(trajectory_reached, group, 15.0, "panda_joint1 to follow a JointTrajectory")

        assert probe.reset.wait_for_service(timeout_sec=10.0)
        response = probe.reset.call(Trigger.Request(), timeout_sec=10.0)
        assert response.success
        episode = json.loads(response.message)
        assert episode["seed"] == 7
        np.testing.assert_allclose(episode["cube_xy"], cube_start_xy(7), atol=1e-4)
        wait_for(lambda: abs(probe.position("panda_joint1") - home[0]) < 0.01, group, 10.0,
                 "the robot back home after reset")


def test_sim_cameras_include_extras_and_refuse_unknown_ones(profile):
    from dataclasses import replace

    from lam_ros.core.profile import CameraSpec
    from lam_ros.nodes.sim_node import command_topics, sim_cameras
    from lam_ros.sim.config import SimConfig

    cameras = sim_cameras(profile, SimConfig(publish_wrist_camera=True, publish_side_view=True))
    assert [(c.name, c.topic) for c in cameras] == [
        ("front", "/front/image_raw"), ("wrist", "/wrist/image_raw"),
        ("side", "~/side_view/image_raw")]
    ceiling = replace(profile, cameras=(CameraSpec("ceiling", "/ceiling/image_raw", 64, 64),))
    with pytest.raises(ValueError, match="ceiling"):
        sim_cameras(ceiling, SimConfig())
    assert command_topics(profile) == (profile.command.topic,
                                       "/joint_trajectory_controller/joint_trajectory")
