"""Jogging a simulated robot with synthetic Joy messages: sim_node and teleop_node as
processes over DDS; the end effector (forward kinematics of /joint_states) rises on stick-up."""

import threading
import time

import numpy as np
import pytest
import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import JointState, Joy

from lam_ros.core.teleop import TeleopConfig
from lam_ros.launcher import NodeGroup, NodeSpec
from lam_ros.ros import qos

pytestmark = pytest.mark.system
CFG = TeleopConfig()


def test_stick_up_raises_the_simulated_gripper(tmp_path, profile):
    from lam_ros.kinematics import Kinematics

    context = Context()
    rclpy.init(context=context)
    group = NodeGroup([NodeSpec("sim_node", params={"profile": profile.name,
                                                    "real_time_factor": 1.0}),
                       NodeSpec("teleop_node", use_sim_time=True,
                                params={"profile": profile.name})],
                      log_dir=tmp_path / "logs").start()
    node = Node("joystick", context=context)
    joy_pub = node.create_publisher(Joy, "/joy", 10)
    positions = {}  # by joint name, from every joint-state topic (a gripper may have its own)
    latest = {}

    def on_joint_state(msg):
        positions.update(zip(msg.name, msg.position, strict=True))
        if all(n in positions for n in profile.joint_names):
            latest["q"] = np.array([positions[n] for n in profile.joint_names])
    for topic in profile.joint_state_topics:
        node.create_subscription(JointState, topic, on_joint_state, qos.SENSOR)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    threading.Thread(target=executor.spin, daemon=True).start()
    kinematics = Kinematics(profile)
    try:
        deadline = time.monotonic() + 60
        while "q" not in latest or joy_pub.get_subscription_count() == 0:
            assert time.monotonic() < deadline, group.log("teleop_node") + group.log("sim_node")
            time.sleep(0.1)
        def height():
            return kinematics.forward(latest["q"])[0][2]

        start_z = height()
        axes, buttons = [0.0] * 6, [0] * 15
        axes[CFG.axis_z], buttons[CFG.deadman_button] = 1.0, 1
        deadline = time.monotonic() + 30.0  # about 3 s on a quiet machine
        while height() - start_z < 0.1:  # stick up, deadman held: the gripper rises
            assert time.monotonic() < deadline, (start_z, height(), group.log("teleop_node"))
            joy_pub.publish(Joy(axes=axes, buttons=buttons))
            time.sleep(0.05)
        joy_pub.publish(Joy(axes=[0.0] * 6, buttons=[0] * 15))  # release: hold
        time.sleep(1.0)
        held_z = height()
        time.sleep(1.0)
        assert abs(height() - held_z) < 0.005, "the arm holds once the deadman is released"
        assert np.all(np.isfinite(latest["q"]))
        assert not group.dead(), group.dead()
    finally:
        executor.shutdown()
        group.stop()
        rclpy.try_shutdown(context=context)
