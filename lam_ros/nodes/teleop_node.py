"""teleop_node: drives the robot from a gamepad (sensor_msgs/Joy on /joy) and starts/stops
recorded episodes with its buttons.

Motion only while the deadman button is held and /joy is fresh; every command passes the shared
SafetyFilter. Releasing the deadman (or a silent joystick) sends nothing, so the position
controller holds the last command. Episode buttons call the recorder's services asynchronously.
"""

from __future__ import annotations

import numpy as np
import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from sensor_msgs.msg import JointState, Joy
from std_msgs.msg import Float64MultiArray
from std_srvs.srv import SetBool, Trigger
from trajectory_msgs.msg import JointTrajectory

from lam_ros.core import teleop
from lam_ros.core.joints import MissingJointError
from lam_ros.core.profile import load_profile
from lam_ros.core.safety import SafetyFilter
from lam_ros.core.teleop import Jogger, TeleopConfig, TeleopMapper
from lam_ros.ros import qos
from lam_ros.ros.convert import float64_command, joint_positions, stamp_to_sec, trajectory_command
from lam_ros.ros.params import declare_config
from lam_ros.sim.kinematics import Kinematics

RECORDER = "/recorder_node"


class TeleopNode(Node):
    def __init__(self, **kwargs):
        super().__init__("teleop_node", **kwargs)
        self.config = declare_config(self, TeleopConfig)
        self.profile = load_profile(self.config.profile)
        self.mapper = TeleopMapper(self.config, self.profile.n_joints)
        self.kinematics = Kinematics(self.profile)
        self.jogger = Jogger(self.profile, self.kinematics)
        self.safety = SafetyFilter(self.profile)
        self.measured: np.ndarray | None = None
        self.measured_time = 0.0
        self.engaged = False
        self.trajectory = self.profile.command.interface == "joint_trajectory"
        self.command_pub = self.create_publisher(
            JointTrajectory if self.trajectory else Float64MultiArray, self.profile.command.topic,
            qos.COMMAND)
        self.create_subscription(Joy, "/joy", self._on_joy, 10)
        self.create_subscription(JointState, self.profile.joint_states_topic,
                                 self._on_joint_state, qos.SENSOR)
        self.recorder = {
            teleop.START: (self.create_client(Trigger, f"{RECORDER}/start"), Trigger.Request()),
            teleop.STOP_SUCCESS: (self.create_client(SetBool, f"{RECORDER}/stop"),
                                  SetBool.Request(data=True)),
            teleop.STOP_FAILURE: (self.create_client(SetBool, f"{RECORDER}/stop"),
                                  SetBool.Request(data=False)),
            teleop.DISCARD: (self.create_client(Trigger, f"{RECORDER}/discard"),
                             Trigger.Request()),
        }
        self.create_timer(self.profile.control_period, self._tick)

    def now_s(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_joy(self, msg: Joy) -> None:
        for event in self.mapper.on_joy(msg.axes, msg.buttons, self.now_s()):
            self.request_episode(event)

    def _on_joint_state(self, msg: JointState) -> None:
        try:
            self.measured = joint_positions(msg, self.profile.joint_names)
        except MissingJointError as exc:
            self.get_logger().warning(f"ignoring joint state: {exc}", throttle_duration_sec=5.0)
            return
        self.measured_time = stamp_to_sec(msg.header.stamp)

    def _tick(self) -> None:
        command = self.next_command(self.mapper.tick(self.now_s()))
        if command is None:
            return
        if self.trajectory:
            stamp = self.get_clock().now().to_msg()
            msg = trajectory_command(self.profile.joint_names,
                                     [(self.profile.control_period, command)], stamp)
        else:
            msg = float64_command(command)
        self.command_pub.publish(msg)

    def next_command(self, intent: teleop.Intent) -> np.ndarray | None:
        """The filtered command for this tick, or None to hold (send nothing)."""
        if not intent.enabled or self.measured is None:
            if self.engaged:
                self.get_logger().info(f"holding: {intent.reason or 'no joint states'}")
                self.safety.disable(intent.reason or "no joint states")
                self.jogger.release()
                self.engaged = False
            return None
        if not self.engaged:  # a fresh deadman press (re-)enables, from where the robot is
            self.safety.enable()
            self.jogger.engage(self.measured)
            self.engaged = True
        if not self.safety.enabled:
            self.get_logger().warning(f"safety filter off ({self.safety.disabled_reason}); "
                                      "release and press the deadman again",
                                      throttle_duration_sec=5.0)
            return None
        target = self.jogger.step(intent, self.profile.control_period)
        decision = self.safety.command(target, self.measured, self.now_s(), self.measured_time)
        if not decision.send:
            self.get_logger().warning(f"holding: {decision.reason}", throttle_duration_sec=2.0)
            return None
        self.jogger.commit(decision.command)
        return decision.command

    def request_episode(self, event: str) -> None:
        client, request = self.recorder[event]
        if not client.service_is_ready():
            self.get_logger().error(f"{event}: {client.srv_name} is not available")
            return
        future = client.call_async(request)  # never block a callback on the recorder
        future.add_done_callback(lambda f, e=event: self._on_recorder_reply(e, f))

    def _on_recorder_reply(self, event: str, future) -> None:
        response = future.result()
        log = self.get_logger().info if response.success else self.get_logger().error
        log(f"{event}: {response.message}")

    def destroy_node(self) -> None:
        self.kinematics.close()
        super().destroy_node()


def main(args=None) -> None:
    rclpy.init(args=args)
    node = TeleopNode()
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
