"""policy_node: runs an exported ONNX policy at the control rate, through the safety filter.

Subscribes the profile's cameras and joint states, publishes joint targets to each of the profile's
command groups in its interface. Starts disabled: ``~/enable`` (std_srvs/SetBool)
switches it on and off. Reports provider, latencies, rate and fault counters on /diagnostics.
A model that does not fit the robot ends the node with one log line and exit code 1.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from dataclasses import dataclass, field

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.clock import Clock, ClockType
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import CompressedImage, Image, Joy
from std_srvs.srv import SetBool

from lam_ros.core import safety
from lam_ros.core.chunking import ChunkScheduler
from lam_ros.core.profile import load_profile
from lam_ros.core.safety import SafetyConfig, SafetyFilter
from lam_ros.data.images import compressed_to_rgb
from lam_ros.launcher import exit_with_parent
from lam_ros.policy.controller import (
    AUTO,
    DEADMAN_RELEASED,
    INFERENCE_MODES,
    INLINE_SHARE,
    JOINTS,
    WAITING,
    PolicyController,
    TickResult,
    choose_inference,
)
from lam_ros.policy.runtime import PREFERRED_PROVIDERS, PolicyLoadError, PolicyRuntime
from lam_ros.ros import qos
from lam_ros.ros.command_publisher import CommandPublisher
from lam_ros.ros.convert import image_to_rgb, stamp_to_sec
from lam_ros.ros.guard import MessageGuard
from lam_ros.ros.joint_states import JointStateInput
from lam_ros.ros.params import declare_config
from lam_ros.ros.startup import create_or_refuse

NOT_FAULTS = (safety.SENT, safety.DISABLED, safety.UNCONFIRMED_POSITION, WAITING,
              DEADMAN_RELEASED)


@dataclass(frozen=True)
class PolicyNodeConfig:
    model: str = field(default="", metadata={"help": "path to the exported policy.onnx"})
    profile: str = field(default="", metadata={
        "help": "robot profile name or YAML path (required: no robot is implied)"})
    providers: tuple[str, ...] = field(default=PREFERRED_PROVIDERS, metadata={
        "help": "onnxruntime execution providers to try, best first"})
    inference_threads: int = field(default=1, metadata={
        "help": "onnxruntime CPU threads per inference; 0: one per core (see runtime.open_session)"})
    warmup_runs: int = field(default=3, metadata={
        "help": "inferences run before serving; the first checks the output shape"})
    stale_after_periods: float = field(default=SafetyConfig.stale_after_periods, metadata={
        "help": "hold when any input is older than this many control periods"})
    max_consecutive_faults: int = field(default=SafetyConfig.max_consecutive_faults, metadata={
        "help": "disable after this many faults in a row"})
    ensemble_coefficient: float = field(default=0.01, metadata={
        "help": "temporal ensembling m in w_i = exp(-m * i), i = 0 for the oldest chunk"})
    diagnostics_period_s: float = field(default=1.0, metadata={
        "help": "wall seconds between /diagnostics reports"})
    deadman_button: int = field(default=-1, metadata={
        "help": "joystick button that must be held for commands to go out; -1: none"})
    joy_topic: str = field(default="/joy", metadata={"help": "sensor_msgs/Joy for the deadman"})
    deadman_timeout_s: float = field(default=0.5, metadata={
        "help": "wall seconds without a Joy message after which the deadman counts as released"})
    silence_warn_s: float = field(default=5.0, metadata={
        "help": "/diagnostics warns about an input topic silent (or never heard) this long"})
    inference: str = field(default=AUTO, metadata={
        "help": f"where the model runs: inline (inside the control tick), background (beside "
                f"it: the tick never waits), or auto (background when a warm-up inference took "
                f"over {INLINE_SHARE:g} of a control period)"})

    def __post_init__(self) -> None:
        self.safety()  # names a bad stale_after_periods / max_consecutive_faults
        if not self.providers:
            raise ValueError("providers must name at least one execution provider")
        if self.inference_threads < 0:
            raise ValueError(f"inference_threads must be >= 0, got {self.inference_threads}")
        if self.warmup_runs < 1:
            raise ValueError(f"warmup_runs must be >= 1, got {self.warmup_runs}")
        if not self.ensemble_coefficient >= 0:
            raise ValueError(f"ensemble_coefficient must be >= 0, got {self.ensemble_coefficient}")
        if not self.diagnostics_period_s > 0:
            raise ValueError(f"diagnostics_period_s must be > 0, got {self.diagnostics_period_s}")
        if self.inference not in INFERENCE_MODES:
            raise ValueError(f"inference must be one of {INFERENCE_MODES}, got {self.inference!r}")
        if self.deadman_button < -1:
            raise ValueError(f"deadman_button must be a button index or -1, "
                             f"got {self.deadman_button}")
        for name in ("deadman_timeout_s", "silence_warn_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")

    def safety(self) -> SafetyConfig:
        return SafetyConfig(self.stale_after_periods, self.max_consecutive_faults)


class PolicyNode(Node):
    def __init__(self, **kwargs):
        super().__init__("policy_node", **kwargs)
        config = declare_config(self, PolicyNodeConfig)
        profile = load_profile(config.profile)
        if not config.model:
            raise PolicyLoadError("parameter 'model' is empty; pass model:=<path/to/policy.onnx>")
        runtime = PolicyRuntime(config.model, profile, config.providers, config.warmup_runs,
                                config.inference_threads)
        self.profile = profile
        self.deadman_button = config.deadman_button
        self.silence_warn_s = config.silence_warn_s
        self.controller = PolicyController(
            runtime, SafetyFilter(profile, config.safety()),
            ChunkScheduler(profile.control_period, config.ensemble_coefficient),
            config.deadman_timeout_s if self.deadman_button >= 0 else None,
            choose_inference(config.inference, min(runtime.warmup_ms), profile.control_period))
        self.input_topics = {camera.name: camera.topic for camera in profile.cameras}
        self.messages = MessageGuard(self)
        for camera in profile.cameras:
            self.messages.subscribe(CompressedImage if camera.compressed else Image, camera.topic,
                                    lambda msg, name=camera.name: self.on_image(name, msg),
                                    qos.SENSOR)
        self.joint_states = JointStateInput(self, self.messages, profile,
                                            self.controller.on_joint_positions,
                                            config.stale_after_periods)
        self.input_topics[JOINTS] = self.joint_states.topic
        self.commands = CommandPublisher(self, profile)
        self.diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.create_timer(profile.control_period, self.on_tick)
        self.create_timer(config.diagnostics_period_s, self.publish_diagnostics,
                          clock=Clock(clock_type=ClockType.STEADY_TIME))
        self.off_switch = self._serve_off_switch(config.joy_topic)
        self.get_logger().info(
            f"loaded {config.model} for {profile.name!r} on {runtime.provider} "
            f"(chunk {runtime.chunk}, warm-up {max(runtime.warmup_ms):.1f} ms max, inference "
            f"{self.controller.inference_mode}); "
            f"skipped: {runtime.skipped_providers or 'none'}; waiting for ~/enable")

    def _serve_off_switch(self, joy_topic: str) -> Node:
        """~/enable and the deadman's /joy on a node and thread of their own: switching the
        policy off never waits behind a tick that is running inference."""
        node = Node(f"{self.get_name()}_off_switch", namespace=self.get_namespace(),
                    context=self.context)
        node.create_service(SetBool, f"{self.get_fully_qualified_name()}/enable", self.on_enable)
        if self.deadman_button >= 0:
            MessageGuard(node).subscribe(Joy, joy_topic, self.on_joy, qos.SENSOR)
        self._off_switch_executor = SingleThreadedExecutor(context=self.context)
        self._off_switch_executor.add_node(node)
        self._off_switch_thread = threading.Thread(target=self._spin_off_switch,
                                                   name="off_switch", daemon=True)
        self._off_switch_thread.start()
        return node

    def _spin_off_switch(self) -> None:
        with contextlib.suppress(ExternalShutdownException):  # Ctrl-C or SIGTERM: a normal end
            self._off_switch_executor.spin()

    def now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def on_image(self, camera: str, msg: Image | CompressedImage) -> None:
        # An unusable frame raises: MessageGuard drops and counts it, the camera goes stale.
        rgb = (compressed_to_rgb(msg.data) if isinstance(msg, CompressedImage)
               else image_to_rgb(msg))
        self.controller.on_image(camera, stamp_to_sec(msg.header.stamp), rgb)

    def on_joy(self, msg: Joy) -> None:
        buttons = msg.buttons
        self.controller.on_deadman(
            self.deadman_button < len(buttons) and buttons[self.deadman_button] == 1)

    def on_enable(self, request: SetBool.Request, response: SetBool.Response):
        if request.data:
            self.controller.enable()
        else:
            self.controller.disable("disabled on request")
        response.success = True
        response.message = "enabled" if request.data else "disabled"
        self.get_logger().info(f"policy {response.message} via ~/enable")
        return response

    def on_tick(self) -> None:
        was_enabled = self.controller.safety.enabled
        result = self.controller.tick(self.now(), clock=self.now)
        if result.decision.send:
            self.publish_command(result)
            self.controller.command_sent(result.arrival)
            return
        if result.decision.reason in NOT_FAULTS:
            return
        self.log_fault(result.decision.reason)
        if was_enabled and not self.controller.safety.enabled:
            self.get_logger().error(f"policy disabled: {self.controller.safety.disabled_reason}; "
                                    f"call ~/enable to resume")

    def publish_command(self, result: TickResult) -> None:
        self.commands.publish(result.decision.command, result.decided_at)

    def log_fault(self, reason: str) -> None:
        detail = f" ({self.controller.last_model_error})" if reason == safety.MODEL_FAILURE else ""
        self.get_logger().warning(f"holding: {reason}{detail}", throttle_duration_sec=2.0)

    def destroy_node(self) -> None:
        if hasattr(self, "off_switch"):  # not when __init__ refused the model
            # Joined before the process exits: a thread still inside rcl at interpreter exit
            # hung the process (seen: policy_node alive 5 s after SIGINT, then an abort).
            self._off_switch_executor.shutdown(timeout_sec=2.0)
            self._off_switch_thread.join(timeout=2.0)
            self.off_switch.destroy_node()
            self.controller.close()
        super().destroy_node()

    def publish_diagnostics(self) -> None:
        values = {**self.controller.report(self.now()), **self.messages.report()}
        status = DiagnosticStatus(name=f"{self.get_name()}: policy", hardware_id=self.profile.name)
        healthy = values["last_decision"] in NOT_FAULTS and (
            values["enabled"] == "true" or values["consecutive_faults"] == "0")
        silent = [self.input_topics[name]
                  for name in self.controller.silent_inputs(self.silence_warn_s)]
        status.level = DiagnosticStatus.OK if healthy and not silent else DiagnosticStatus.WARN
        status.message = values["last_decision"]
        if silent:
            status.message = f"no messages on {', '.join(silent)} for > {self.silence_warn_s} s"
            values["silent_inputs"] = " ".join(silent)
        status.values = [KeyValue(key=k, value=v) for k, v in values.items()]
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self.diagnostics_pub.publish(array)


def main(args=None) -> int:
    exit_with_parent()
    rclpy.init(args=args)
    node = create_or_refuse(PolicyNode, "policy_node", (PolicyLoadError, ValueError))
    if node is None:  # a bad model, profile or parameter, said in one line
        return 1
    # One thread. rclpy 9.1's MultiThreadedExecutor re-queues tasks that have not started yet
    # and spins holding the GIL (ros2/rclpy#1452): measured here, it froze every Python thread
    # of the process for up to 2 s, where the single-threaded executor never stalled.
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
