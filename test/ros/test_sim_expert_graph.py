"""sim_node and expert_node as real processes over DDS: the expert solves an episode through the
ROS graph, and the simulated robot refuses malformed commands while following good ones."""

import json
import math
import threading
import time

import numpy as np
import pytest
from diagnostics_reports import DiagnosticsReports
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Bool
from std_srvs.srv import Trigger

from lam_ros.launcher import NodeGroup, NodeSpec
from lam_ros.ros import qos
from lam_ros.ros.command_publisher import MESSAGE_CLASSES, group_message
from lam_ros.ros.convert import float64_command, trajectory_command
from lam_ros.sim.tasks import get_task

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
        self.profile = profile
        self.success = False
        self.positions: dict[str, float] = {}  # every joint reported, on any joint-state topic
        self.image: Image | None = None
        self.create_subscription(Bool, "/sim_node/task_success", self._on_success, qos.STATUS)
        for topic in profile.joint_state_topics:
            self.create_subscription(JointState, topic, self._on_joints, qos.SENSOR)
        self.create_subscription(Image, profile.cameras[0].topic, self._on_image, qos.SENSOR)
        arm = profile.command_groups[0]
        self.arm_commands = self.create_publisher(MESSAGE_CLASSES[arm.interface], arm.topic,
                                                  qos.COMMAND)
        self.reset = self.create_client(Trigger, "/sim_node/reset")
        self.sim_reports = DiagnosticsReports(self, "sim_node: simulation")
        self.expert_reports = DiagnosticsReports(self, "expert_node: expert")

    def _on_success(self, msg):
        self.success = msg.data

    def _on_joints(self, msg):
        self.positions.update(zip(msg.name, msg.position, strict=True))

    def _on_image(self, msg):
        self.image = msg

    def position(self, name):
        return self.positions[name]

    def command_arm(self, values):
        """Arm targets (the arm group's order) in the arm controller's interface."""
        arm = self.profile.command_groups[0]
        self.arm_commands.publish(group_message(arm, np.asarray(values), self.now_s(),
                                                self.profile.control_period))

    def now_s(self):
        return self.get_clock().now().nanoseconds * 1e-9


def report_values(reports, group, what, condition):
    """The values of the first /diagnostics status meeting ``condition``."""
    wait_for(lambda: reports.find(condition), group, 10.0, what)
    return reports.find(condition)[1]


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


def test_expert_solves_episodes_through_the_ros_graph_in_lockstep(probe, profile, tmp_path):
    specs = [NodeSpec("sim_node", params={"seed": 1, "lockstep": True, "real_time_factor": 0.0,
                                          "profile": profile.name}),
             NodeSpec("expert_node", use_sim_time=True, params={"profile": profile.name})]
    with NodeGroup(specs, log_dir=tmp_path) as group:
        wait_for(lambda: probe.success, group, 40.0, "/sim_node/task_success = true")
        expert = report_values(probe.expert_reports, group, "the expert's commands",
                               lambda s, v: int(v["commands_sent"]) > 0)
        assert expert["task"] == "pick_place" and expert["phase"] != "idle"
        sim = report_values(probe.sim_reports, group, "sim steps",
                            lambda s, v: int(v["steps"]) > 0)
        assert sim["lockstep"] == "true"
        assert probe.image is not None and probe.image.encoding == "rgb8"
        assert (probe.image.width, probe.image.height) == (96, 96)
        reported = {*profile.joint_names, *profile.grippers[0].gripper.mimic_joints}
        assert set(probe.positions) == reported  # the mirrored joints are reported too
        # A reset puts the cube back at its start: the expert notices and solves it again.
        assert probe.reset.wait_for_service(timeout_sec=10.0)
        assert probe.reset.call(Trigger.Request(), timeout_sec=10.0).success
        wait_for(lambda: not probe.success, group, 10.0, "task_success = false after reset")
        wait_for(lambda: probe.success, group, 40.0, "task_success = true again")


def test_sim_rejects_bad_commands_holds_and_follows_good_ones(probe, profile, tmp_path):
    specs = [NodeSpec("sim_node", params={"seed": 7, "real_time_factor": 2.0,
                                          "diagnostics_period_s": 0.5, "profile": profile.name})]
    arm = profile.command_groups[0]
    joint1 = arm.joints[0]
    home = np.array(profile.home)[profile.slots(arm)]
    with NodeGroup(specs, log_dir=tmp_path) as group:
        wait_for(lambda: joint1 in probe.positions, group, 20.0, "joint states")
        sim = report_values(probe.sim_reports, group, "a real-time factor",
                            lambda s, v: float(v["real_time_factor"]) > 0)
        assert (sim["task"], sim["seed"], sim["real_time_factor_target"]) == ("pick_place", "7",
                                                                               "2")
        assert float(sim["real_time_factor"]) < 2.2  # paced: never much above its target
        target = home.copy()
        target[0] = 0.3

        def command_reached():
            probe.command_arm(target)
            return abs(probe.position(joint1) - 0.3) < 0.01
        wait_for(command_reached, group, 15.0, f"{joint1} to reach a good command")

        nan_command = target.copy()
        nan_command[0] = math.nan
        n = len(arm.joints)
        # Warnings are throttled (one per 2 s), so show the sim one kind of bad command at a
        # time and keep sending it until its warning appears.
        short = ("lacks joint(s)" if arm.interface == "joint_trajectory"
                 else f"{n - 1} values for {n} joints")
        for bad, warning in [(nan_command, "non-finite"), (target[:-1], short)]:

            def rejection_logged(bad=bad, warning=warning):
                if arm.interface == "joint_trajectory":
                    probe.arm_commands.publish(trajectory_command(
                        arm.joints[:len(bad)], [(0.1, bad)], probe.get_clock().now().to_msg()))
                else:
                    probe.arm_commands.publish(float64_command(bad))
                return warning in group.log("sim_node")
            wait_for(rejection_logged, group, 15.0, f"the sim to log {warning!r}")
        assert probe.position(joint1) == pytest.approx(0.3, abs=0.01)  # held
        report_values(probe.sim_reports, group, "rejected commands counted",
                      lambda s, v: int(v["commands_rejected"]) >= 2)

        assert probe.reset.wait_for_service(timeout_sec=10.0)
        response = probe.reset.call(Trigger.Request(), timeout_sec=10.0)
        assert response.success
        episode = json.loads(response.message)
        assert episode["seed"] == 7
        assert episode["task"] == "pick_place"
        np.testing.assert_allclose(episode["layout"]["cube"],
                                   get_task("pick_place").layout(7)["cube"], atol=1e-4)
        wait_for(lambda: abs(probe.position(joint1) - home[0]) < 0.01, group, 10.0,
                 "the robot back home after reset")


def test_sim_cameras_include_extras_and_refuse_unknown_ones(profile):
    from dataclasses import replace

    from lam_ros.core.profile import CameraSpec
    from lam_ros.nodes.sim_node import sim_cameras
    from lam_ros.sim.config import SimConfig

    cameras = sim_cameras(profile, SimConfig(publish_wrist_camera=True, publish_side_view=True))
    assert [(c.name, c.topic) for c in cameras] == [
        ("front", "/front/image_raw"), ("wrist", "/wrist/image_raw"),
        ("side", "~/side_view/image_raw")]
    ceiling = replace(profile, cameras=(CameraSpec("ceiling", "/ceiling/image_raw", 64, 64),))
    with pytest.raises(ValueError, match="ceiling"):
        sim_cameras(ceiling, SimConfig())
