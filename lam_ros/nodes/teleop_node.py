"""teleop_node: drives the robot from a gamepad (sensor_msgs/Joy on /joy) and starts/stops
recorded episodes with its buttons.

Motion only while the deadman button is held and /joy is fresh (on the monotonic clock, so a
simulated clock that jumps cannot make an old message look new); every command passes the shared
SafetyFilter. Releasing the deadman (or a silent joystick) sends nothing, so the position
controller holds the last command. Episode buttons call the recorder's services asynchronously,
one call at a time; whatever the recorder refuses or fails to answer is a warning, never a crash.
Reports the joystick's age, the deadman, IK failures and commands sent on /diagnostics.
"""

from __future__ import annotations

import sys
import time

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import Joy
from std_srvs.srv import SetBool, Trigger

from lam_ros.core import commands, features, teleop, teleop_driver
from lam_ros.core.profile import CommandGroup, load_profile
from lam_ros.core.teleop import EpisodeCalls, TeleopConfig, TeleopMapper
from lam_ros.core.teleop_driver import TeleopDriver
from lam_ros.kinematics import Kinematics
from lam_ros.ros import qos
from lam_ros.ros.command_publisher import MESSAGE_CLASSES, CommandPublisher
from lam_ros.ros.diagnostics import WARN, Diagnostics, Report, worst_of
from lam_ros.ros.guard import MessageGuard
from lam_ros.ros.joint_states import JointStateInput
from lam_ros.ros.params import declare_config
from lam_ros.ros.startup import run_node

RECORDER = "/recorder_node"


class TeleopNode(Node):
    def __init__(self, **kwargs):
        super().__init__("teleop_node", **kwargs)
        self.config = declare_config(self, TeleopConfig)
        self.profile = load_profile(self.config.profile)
        self.mapper = TeleopMapper(self.config, self.profile.n_joints)
        self.driver = TeleopDriver(self.profile, Kinematics(self.profile))
        self.hold_reason = ""  # the operator's intent's reason to hold at the last tick
        self.reported_ik_failures = 0  # at the previous /diagnostics report
        self.commands = CommandPublisher(self, self.profile, source=features.TELEOP_SOURCE)
        self.messages = MessageGuard(self)
        self.messages.subscribe(Joy, "/joy", self._on_joy, 10)
        JointStateInput(self, self.messages, self.profile, self._on_joint_positions)
        for index, group in enumerate(self.profile.grippers):  # who else commands them
            self.messages.subscribe(MESSAGE_CLASSES[group.interface], group.topic,
                                    lambda msg, i=index, g=group: self._on_gripper(i, g, msg),
                                    qos.COMMAND)
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
        self.diagnostics = Diagnostics(self, "teleop", self.profile.name,
                                       self.config.diagnostics_period_s, self.diagnostics_report)

    def now_s(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_joy(self, msg: Joy) -> None:
        for event in self.mapper.on_joy(msg.axes, msg.buttons, time.monotonic()):
            self.request_episode(event)

    def _on_joint_positions(self, stamp_s: float, positions: np.ndarray) -> None:
        self.driver.on_joint_positions(stamp_s, positions)

    def _on_gripper(self, index: int, group: CommandGroup, msg) -> None:
        command = commands.decode(group, msg)
        joint = group.joints[0]
        if command.points and joint in command.joint_names:
            values = command.points[-1][1]
            slot = command.joint_names.index(joint)
            if slot < len(values):
                self.driver.on_gripper_command(index, float(values[slot]), self.now_s())

    def _tick(self) -> None:
        self.ticks += 1
        intent = self.mapper.tick(time.monotonic())
        self.hold_reason = intent.reason
        command = self.next_command(intent)
        if command is not None:
            self.commands.publish(command, self.now_s())

    def next_command(self, intent: teleop.Intent) -> np.ndarray | None:
        """The filtered command for this tick, or None to hold (send nothing)."""
        step = self.driver.step(intent, self.now_s())
        log = self.get_logger()
        if step.event == teleop_driver.RELEASED:
            log.info(f"holding: {step.reason}")
        elif step.event == teleop_driver.WAITING:
            log.warning(f"deadman held: {step.reason}", throttle_duration_sec=2.0)
        elif step.event == teleop_driver.SAFETY_OFF:
            log.warning(f"safety filter off ({step.reason}); release and press the deadman "
                        "again", throttle_duration_sec=5.0)
        elif step.event == teleop_driver.HELD:
            log.warning(f"holding: {step.reason}", throttle_duration_sec=2.0)
        return step.command

    def diagnostics_report(self) -> Report:
        age, jogger = self.mapper.joy_age_s(time.monotonic()), self.driver.jogger
        new_ik_failures = jogger.ik_failures - self.reported_ik_failures
        self.reported_ik_failures = jogger.ik_failures
        values = {"joy_age_s": "none" if age is None else f"{age:.2f}",
                  "engaged": "true" if self.driver.engaged else "false",
                  "mode": self.mapper.mode,
                  "ik_failures": str(jogger.ik_failures),
                  "ik_last_failure": jogger.ik_last_failure,
                  "commands_sent": str(self.driver.safety.commands_sent),
                  **self.messages.report()}
        problems = []
        if age is None:
            problems.append((WARN, "no /joy message yet"))
        elif age > self.config.joy_timeout_s:
            problems.append((WARN, f"/joy stale: silent for {age:.1f} s > joy_timeout_s="
                                   f"{self.config.joy_timeout_s:g}"))
        if new_ik_failures:
            problems.append((WARN, f"IK failed {new_ik_failures} times since the last report: "
                                   f"{jogger.ik_last_failure}"))
        if self.driver.engaged:
            state = "engaged"
        else:
            state = f"holding: {self.hold_reason}" if self.hold_reason else "holding"
        return worst_of(problems, state, values)

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
    return run_node(TeleopNode, "teleop_node", args=args)


if __name__ == "__main__":
    sys.exit(main())
