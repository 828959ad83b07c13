"""teleop_node: drives the robot from a gamepad (sensor_msgs/Joy on /joy) and starts/stops
recorded episodes with its buttons.

Motion only while the deadman button is held and /joy is fresh (on the monotonic clock, so a
simulated clock that jumps cannot make an old message look new); every command passes the shared
SafetyFilter. Releasing the deadman (or a silent joystick) sends nothing, so the position
controller holds the last command. Episode buttons call the recorder's services asynchronously,
one call at a time; whatever the recorder refuses or fails to answer is a warning, never a crash.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from sensor_msgs.msg import Joy
from std_srvs.srv import SetBool, Trigger

from lam_ros.core import teleop
from lam_ros.core.profile import load_profile
from lam_ros.core.safety import PositionReadings, SafetyFilter
from lam_ros.core.teleop import EpisodeCalls, Jogger, TeleopConfig, TeleopMapper
from lam_ros.kinematics import Kinematics
from lam_ros.launcher import exit_with_parent
from lam_ros.ros.command_publisher import CommandPublisher
from lam_ros.ros.guard import MessageGuard
from lam_ros.ros.joint_states import JointStateInput
from lam_ros.ros.params import declare_config
from lam_ros.ros.startup import create_or_refuse

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
        self.readings = PositionReadings.for_filter(self.safety)
        self.measured: np.ndarray | None = None
        self.measured_time = 0.0
        self.engaged = False
        self.commands = CommandPublisher(self, self.profile)
        self.messages = MessageGuard(self)
        self.messages.subscribe(Joy, "/joy", self._on_joy, 10)
        JointStateInput(self, self.messages, self.profile, self._on_joint_positions)
        self.calls = EpisodeCalls(self.config.recorder_timeout_s)
        self._pending_future = None
        self.episode_log: list[tuple[str, bool, str]] = []  # (event, accepted, message)
        self.ticks = 0
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
        for event in self.mapper.on_joy(msg.axes, msg.buttons, time.monotonic()):
            self.request_episode(event)

    def _on_joint_positions(self, stamp_s: float, positions: np.ndarray) -> None:
        self.measured = positions
        self.measured_time = stamp_s
        self.readings.add(positions)

    def _tick(self) -> None:
        self.ticks += 1
        command = self.next_command(self.mapper.tick(time.monotonic()))
        if command is not None:
            self.commands.publish(command, self.now_s())

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
            if not self.readings.confirmed:  # one odd reading is not where the robot is
                self.get_logger().warning("deadman held: waiting for joint states that agree",
                                          throttle_duration_sec=2.0)
                return None
            self.safety.enable()
            self.jogger.engage(self.measured)
            self.engaged = True
        if not self.safety.enabled:
            self.get_logger().warning(f"safety filter off ({self.safety.disabled_reason}); "
                                      "release and press the deadman again",
                                      throttle_duration_sec=5.0)
            return None
        target = self.jogger.step(intent, self.profile.control_period)
        decision = self.safety.command(target, self.measured, self.now_s(), self.measured_time,
                                       confirmed=self.readings.confirmed)
        if not decision.send:
            self.get_logger().warning(f"holding: {decision.reason}", throttle_duration_sec=2.0)
            return None
        self.jogger.commit(decision.command)
        return decision.command

    def request_episode(self, event: str) -> None:
        client, request = self.recorder[event]
        now = time.monotonic()
        if self.calls.expired(now):
            self._give_up_pending()
        refusal = self.calls.refusal(event, now)
        if not refusal and not client.service_is_ready():
            refusal = f"{client.srv_name} is not available"
        if refusal:
            self._log_episode(event, False, f"refused: {refusal}")
            return
        future = client.call_async(request)  # never block a callback on the recorder
        self.calls.sent(event, now)
        self._pending_future = (client, future)
        future.add_done_callback(lambda f, e=event: self._on_recorder_reply(e, f))

    def _give_up_pending(self) -> None:
        client, future = self._pending_future
        client.remove_pending_request(future)
        event = self.calls.pending[0]
        self.calls.answered()
        self._log_episode(event, False, f"no answer from the recorder in "
                                        f"{self.config.recorder_timeout_s} s; gave up")

    def _on_recorder_reply(self, event: str, future) -> None:
        self.calls.answered()
        self._pending_future = None
        try:
            response = future.result()
        except Exception as exc:  # a failed call is reported, never fatal
            self._log_episode(event, False, f"call failed: {type(exc).__name__}: {exc}")
            return
        if response is None:
            self._log_episode(event, False, "call ended without an answer")
        else:
            self._log_episode(event, response.success, response.message)

    def _log_episode(self, event: str, accepted: bool, message: str) -> None:
        """One call site per severity: rclpy refuses a call site whose severity changes."""
        self.episode_log.append((event, accepted, message))
        if accepted:
            self.get_logger().info(f"{event}: {message}")
        else:
            self.get_logger().warning(f"{event} refused: {message}")


def main(args=None) -> int:
    exit_with_parent()
    rclpy.init(args=args)
    node = create_or_refuse(TeleopNode, "teleop_node")
    if node is None:
        return 1
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
