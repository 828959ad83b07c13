"""policy_node: runs an exported ONNX policy at the control rate, through the safety filter.

Subscribes the profile's cameras and joint states, publishes joint targets to each of the profile's
command groups in its interface. A managed (lifecycle) node: configure loads and checks the
model, activate starts the control tick, deactivate holds, cleanup releases the model; by default
it walks itself to active at start. Active, it still starts disabled: ``~/enable``
(std_srvs/SetBool) switches it on and off. Reports its state, provider, latencies, rate and fault
counters on /diagnostics. With autostart, a model that does not fit the robot ends the node with
one log line and exit code 1; under a lifecycle manager, configure fails and says why.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.node import Node
from sensor_msgs.msg import CompressedImage, Image, Joy
from std_srvs.srv import SetBool

from lam_ros.core import features, safety
from lam_ros.core.chunking import ChunkScheduler
from lam_ros.core.profile import load_profile
from lam_ros.core.safety import SafetyConfig, SafetyFilter
from lam_ros.core.tick_schedule import JOINT_STATES, TICK_SOURCES, TickSchedule
from lam_ros.data.images import compressed_to_rgb
from lam_ros.policy.controller import (
    AUTO,
    DEADMAN_RELEASED,
    INFERENCE_MODES,
    INLINE_SHARE,
    JOINTS,
    TAKEN_OVER,
    WAITING,
    PolicyController,
    TickResult,
    choose_inference,
)
from lam_ros.policy.runtime import PREFERRED_PROVIDERS, PolicyLoadError, PolicyRuntime
from lam_ros.ros import qos
from lam_ros.ros.command_publisher import CommandPublisher
from lam_ros.ros.convert import image_to_rgb, stamp_to_sec
from lam_ros.ros.diagnostics import ERROR, OK, WARN, Diagnostics, Report
from lam_ros.ros.guard import MessageGuard
from lam_ros.ros.joint_states import JointStateInput
from lam_ros.ros.params import declare_config
from lam_ros.ros.startup import run_node

NOT_FAULTS = (safety.SENT, safety.DISABLED, safety.UNCONFIRMED_POSITION, WAITING,
              DEADMAN_RELEASED, TAKEN_OVER)


@dataclass(frozen=True)
class PolicyNodeConfig:
    model: str = field(default="", metadata={
        "help": "path to the exported policy.onnx (a change applies at the next configure)"})
    profile: str = field(default="", metadata={
        "help": "robot profile name or YAML path (required: no robot is implied)"})
    providers: tuple[str, ...] = field(default=PREFERRED_PROVIDERS, metadata={
        "help": "onnxruntime execution providers to try, best first"})
    tensorrt_fp16: bool = field(default=False, metadata={
        "help": "TensorRT builds an fp16 engine (checked against the CPU provider at load)"})
    inference_threads: int = field(default=1, metadata={
        "help": "onnxruntime CPU threads per inference; 0: one per core (runtime.open_session)"})
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
    takeover_button: int = field(default=-1, metadata={
        "help": "teleop's deadman button: while the operator holds it, teleop_node drives and "
                "the policy holds (not a fault), resuming from where the arm is on release; "
                "-1: no takeover"})
    deadman_timeout_s: float = field(default=0.5, metadata={
        "help": "wall seconds without a Joy message after which the deadman counts as released"})
    silence_warn_s: float = field(default=5.0, metadata={
        "help": "/diagnostics warns about an input topic silent (or never heard) this long"})
    autostart: bool = field(default=True, metadata={
        "help": "configure and activate at start; false: wait for a lifecycle manager"})
    tick_on: str = field(default=JOINT_STATES, metadata={
        "help": "what starts a control tick: joint_states (the reading that opens each control "
                "period, so the command answers it at once) or timer (a free-running timer at "
                "the control rate: the newest reading waits up to one joint-state period)"})
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
        if self.tick_on not in TICK_SOURCES:
            raise ValueError(f"tick_on must be one of {TICK_SOURCES}, got {self.tick_on!r}")
        if self.inference not in INFERENCE_MODES:
            raise ValueError(f"inference must be one of {INFERENCE_MODES}, got {self.inference!r}")
        for name in ("deadman_button", "takeover_button"):
            if getattr(self, name) < -1:
                raise ValueError(f"{name} must be a button index or -1, "
                                 f"got {getattr(self, name)}")
        for name in ("deadman_timeout_s", "silence_warn_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")

    def safety(self) -> SafetyConfig:
        return SafetyConfig(self.stale_after_periods, self.max_consecutive_faults)


class PolicyNode(LifecycleNode):
    """A managed node: configure loads and checks the model, activate starts the control tick
    (the policy still waits for ``~/enable``), deactivate holds, cleanup releases the model.
    With ``autostart`` (the default) it configures and activates itself at start."""

    def __init__(self, **kwargs):
        super().__init__("policy_node", **kwargs)
        self.config = declare_config(self, PolicyNodeConfig, self._on_config, mutable=("model",))
        profile = self.profile = load_profile(self.config.profile)
        self.controller: PolicyController | None = None  # while configured
        self.configure_error = ""
        self._control_timer = None
        self.schedule: TickSchedule | None = None  # while active
        self.input_topics = {camera.name: camera.topic for camera in profile.cameras}
        self.messages = MessageGuard(self)
        for camera in profile.cameras:
            self.messages.subscribe(CompressedImage if camera.compressed else Image, camera.topic,
                                    lambda msg, name=camera.name: self.on_image(name, msg),
                                    qos.SENSOR)
        self.joint_states = JointStateInput(self, self.messages, profile,
                                            self.on_joint_positions,
                                            self.config.stale_after_periods)
        self.input_topics[JOINTS] = self.joint_states.topic
        self.commands = CommandPublisher(self, profile, managed=True,
                                         source=features.POLICY_SOURCE)
        self.diagnostics = Diagnostics(self, "policy", profile.name,
                                       self.config.diagnostics_period_s, self.diagnostics_report)
        if self.config.autostart:
            if self.trigger_configure() != TransitionCallbackReturn.SUCCESS:
                raise PolicyLoadError(self.configure_error)
            self.trigger_activate()
        self.off_switch = self._serve_off_switch(self.config.joy_topic)
        self.get_logger().info(f"{self.state_name()}; "
                               + ("waiting for ~/enable" if self.config.autostart
                                  else "waiting for a lifecycle manager to configure it"))

    def _on_config(self, config: PolicyNodeConfig) -> None:
        self.config = config  # the model: read at the next configure

    def state_name(self) -> str:
        return self._state_machine.current_state[1]

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        config, profile = self.config, self.profile
        try:
            if not config.model:
                raise PolicyLoadError(
                    "parameter 'model' is empty; pass model:=<path/to/policy.onnx>")
            runtime = PolicyRuntime(config.model, profile, config.providers, config.warmup_runs,
                                    config.inference_threads, config.tensorrt_fp16)
        except PolicyLoadError as exc:
            self.configure_error = str(exc)
            self.get_logger().error(f"configure failed: {exc}")
            return TransitionCallbackReturn.FAILURE
        self.configure_error = ""
        self.controller = PolicyController(
            runtime, SafetyFilter(profile, config.safety()),
            ChunkScheduler(profile.control_period, config.ensemble_coefficient),
            config.deadman_timeout_s if config.deadman_button >= 0 else None,
            choose_inference(config.inference, min(runtime.warmup_ms), profile.control_period))
        self.get_logger().info(
            f"loaded {config.model} for {profile.name!r} on {runtime.provider} "
            f"(chunk {runtime.chunk}, warm-up {max(runtime.warmup_ms):.1f} ms max, inference "
            f"{self.controller.inference_mode}); skipped: {runtime.skipped_providers or 'none'}")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.schedule = TickSchedule(self.profile.control_period, self.config.tick_on)
        self._control_timer = self.create_timer(self.profile.control_period, self.on_timer)
        return super().on_activate(state)  # the command publishers

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.controller.disable("deactivated")
        self.destroy_timer(self._control_timer)
        self._control_timer = None
        self.schedule = None
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release_model()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        if self._control_timer is not None:
            self.on_deactivate(state)
        self._release_model()
        return TransitionCallbackReturn.SUCCESS

    def _release_model(self) -> None:
        # getattr: rclpy destroys a node whose __init__ failed before it had a controller.
        controller, self.controller = getattr(self, "controller", None), None
        if controller is not None:
            controller.disable("cleaned up")
            controller.close()

    def _serve_off_switch(self, joy_topic: str) -> Node:
        """~/enable and the deadman's /joy on a node and thread of their own: switching the
        policy off never waits behind a tick that is running inference."""
        node = Node(f"{self.get_name()}_off_switch", namespace=self.get_namespace(),
                    context=self.context)
        node.create_service(SetBool, f"{self.get_fully_qualified_name()}/enable", self.on_enable)
        if self.config.deadman_button >= 0 or self.config.takeover_button >= 0:
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
        controller = self.controller
        if controller is None:  # no model loaded: nothing to feed
            return
        # An unusable frame raises: MessageGuard drops and counts it, the camera goes stale.
        rgb = (compressed_to_rgb(msg.data) if isinstance(msg, CompressedImage)
               else image_to_rgb(msg))
        controller.on_image(camera, stamp_to_sec(msg.header.stamp), rgb)

    def on_joint_positions(self, stamp: float, positions) -> None:
        controller, schedule = self.controller, self.schedule
        if controller is None:
            return
        controller.on_joint_positions(stamp, positions)
        if schedule is not None and schedule.on_reading(stamp, self.now()):
            self.on_tick(lambda: schedule.tick_time(stamp, self.now()))

    def on_joy(self, msg: Joy) -> None:
        controller, config = self.controller, self.config
        if controller is None:
            return

        def held(button: int) -> bool:
            return 0 <= button < len(msg.buttons) and msg.buttons[button] == 1

        if config.deadman_button >= 0:
            controller.on_deadman(held(config.deadman_button))
        if config.takeover_button >= 0:
            controller.on_takeover(held(config.takeover_button))

    def on_enable(self, request: SetBool.Request, response: SetBool.Response):
        controller, state = self.controller, self.state_name()
        if request.data and state != "active":
            response.success = False
            response.message = f"not enabled: policy_node is {state}, not active"
        else:
            if controller is not None:
                if request.data:
                    controller.enable()
                else:
                    controller.disable("disabled on request")
            response.success = True
            response.message = "enabled" if request.data else "disabled"
        self.get_logger().info(f"~/enable {request.data}: {response.message}")
        return response

    def on_timer(self) -> None:
        """The control-period timer: every tick with tick_on:=timer, else only the watchdog's
        (no reading for 1.5 periods)."""
        if self.schedule.on_timer(self.now()):
            self.on_tick(self.now)

    def on_tick(self, clock: Callable[[], float]) -> None:
        """One control tick; ``clock()`` is the ROS time it decides for (read again after
        inference)."""
        was_enabled = self.controller.safety.enabled
        result = self.controller.tick(clock(), clock=clock)
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
        self._release_model()
        super().destroy_node()

    def diagnostics_report(self) -> Report:
        state, controller = self.state_name(), self.controller
        values = {"lifecycle_state": state, **self.messages.report()}
        if controller is None:  # no model: say why, if configure failed
            return Report(ERROR if self.configure_error else OK, self.configure_error or state,
                          values)
        values.update(controller.report(self.now()), tick_on=self.config.tick_on)
        healthy = values["last_decision"] in NOT_FAULTS and (
            values["enabled"] == "true" or values["consecutive_faults"] == "0")
        silence_s = self.config.silence_warn_s
        silent = [self.input_topics[name] for name in controller.silent_inputs(silence_s)]
        message = values["last_decision"] if state == "active" else state
        if silent:
            message = f"no messages on {', '.join(silent)} for > {silence_s} s"
            values["silent_inputs"] = " ".join(silent)
        return Report(OK if healthy and not silent else WARN, message, values)


def main(args=None) -> int:
    # A bad model, profile or parameter is said in one line, exit code 1.
    return run_node(PolicyNode, "policy_node", (PolicyLoadError, ValueError), args)


if __name__ == "__main__":
    sys.exit(main())
