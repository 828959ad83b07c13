"""Drives simulated episodes over ROS: choose a seed, reset the sim, switch the policy on and off,
watch task success on the sim clock. Used by `lam-ros evaluate` (and by anything that needs to run
episodes against sim_node the way an operator would)."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from dataclasses import dataclass

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.srv import SetParameters
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter as RclpyParameter
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Bool
from std_srvs.srv import SetBool, Trigger

from lam_ros.ros import qos
from lam_ros.ros.convert import image_to_rgb, stamp_to_sec
from lam_ros.ros.guard import MessageGuard
from lam_ros.sim.report import Stillness


class SessionError(RuntimeError):
    """A service did not answer or refused; the message says which."""


@dataclass
class EpisodeOutcome:
    success: bool
    time_to_success_s: float | None
    reason: str
    frames: list[dict[str, np.ndarray]]
    still_s: float | None = None  # how long the arm had been still at the end


class SimSession:
    """An rclpy node of its own (spun in a background thread) that runs episodes on sim_node."""

    def __init__(self, context: Context, video_topics: dict[str, str] | None = None,
                 policy_node: str = "policy_node", sim_node: str = "sim_node",
                 joint_state_topic: str = "/joint_states", name: str = "lam_ros_sim_session",
                 stop: threading.Event | None = None):
        """``stop``, once set, ends every wait of this session at once with a SessionError
        (the caller is stopping: no service answer or clock tick is worth waiting for)."""
        self.node = Node(name, context=context)
        self._stop = stop or threading.Event()
        self._lock = threading.Lock()
        self._sim_time = None
        self._clock_count = 0
        self._success = False
        self._policy_status: dict[str, str] = {}
        self._recording = False
        self._frames: list[dict[str, np.ndarray]] = []
        self._latest: dict[str, np.ndarray] = {}
        self._stillness = Stillness()
        n = self.node
        self.messages = MessageGuard(n)  # a bad message must not end the session's spin
        self.messages.subscribe(Clock, "/clock", self._on_clock, qos.CLOCK)
        self.messages.subscribe(Bool, f"/{sim_node}/task_success", self._on_success, 10)
        self.messages.subscribe(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)
        self.messages.subscribe(JointState, joint_state_topic, self._on_joint_state, qos.SENSOR)
        self._views = tuple(video_topics or {})  # the first is the policy camera
        for view, topic in (video_topics or {}).items():
            self.messages.subscribe(Image, topic, lambda m, k=view: self._on_image(k, m),
                                    qos.SENSOR)
        self._reset = n.create_client(Trigger, f"/{sim_node}/reset")
        self._param_clients = {}
        self._sim_node = sim_node
        self._enable = n.create_client(SetBool, f"/{policy_node}/enable")
        self._policy_node = policy_node
        self._executor = SingleThreadedExecutor(context=context)  # see policy_node.main
        self._executor.add_node(n)
        self._thread = threading.Thread(target=self._executor.spin, daemon=True)
        self._thread.start()

    # --- callbacks: record the newest facts, nothing more
    def _on_clock(self, msg: Clock) -> None:
        with self._lock:
            self._sim_time = stamp_to_sec(msg.clock)
            self._clock_count += 1

    def _on_success(self, msg: Bool) -> None:
        with self._lock:
            self._success = self._success or msg.data

    def _on_joint_state(self, msg: JointState) -> None:
        with self._lock:
            self._stillness.add(stamp_to_sec(msg.header.stamp), np.asarray(msg.position))

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if self._policy_node not in status.name:
                continue
            with self._lock:
                self._policy_status = {kv.key: kv.value for kv in status.values}

    def _on_image(self, name: str, msg: Image) -> None:
        if not self._recording:
            return  # the views are for rollout videos only
        rgb = image_to_rgb(msg)
        with self._lock:
            self._latest[name] = rgb
            # One frame per policy image, once every view of this episode has arrived.
            if name == self._views[0] and len(self._latest) == len(self._views):
                self._frames.append(dict(self._latest))

    # --- services
    def call(self, client, request, timeout_s: float = 10.0):
        """A service call from the caller's thread while this session's executor spins."""
        deadline = time.monotonic() + timeout_s
        while not client.wait_for_service(timeout_sec=0.1):
            self._check_stop()
            if time.monotonic() > deadline:
                raise SessionError(f"service {client.srv_name} is not available")
        future = client.call_async(request)
        deadline = time.monotonic() + timeout_s
        while not future.done():
            self._check_stop()
            if time.monotonic() > deadline:
                raise SessionError(f"service {client.srv_name} did not answer in {timeout_s} s")
            time.sleep(0.002)
        return future.result()

    def _check_stop(self) -> None:
        if self._stop.is_set():
            raise SessionError("stopped")

    def set_parameter(self, node_name: str, name: str, value: bool | int | float) -> None:
        if node_name not in self._param_clients:
            self._param_clients[node_name] = self.node.create_client(
                SetParameters, f"/{node_name}/set_parameters")
        param = RclpyParameter(name, value=value).to_parameter_msg()
        result = self.call(self._param_clients[node_name],
                           SetParameters.Request(parameters=[param]))
        if not result.results[0].successful:
            raise SessionError(f"{node_name} refused {name}={value}: {result.results[0].reason}")

    def now(self) -> tuple[float, bool]:
        """The newest sim time and whether the task has succeeded since the last reset."""
        with self._lock:
            return self._sim_time, self._success

    def wait_for_clock(self, wall_limit_s: float) -> float:
        """The newest sim time, once sim_node has published one."""
        return self._wait_clock_after(0, time.monotonic(), wall_limit_s)

    def clear_success(self) -> None:
        with self._lock:
            self._success = False

    def wait_ready(self, timeout_s: float = 30.0, with_policy: bool = True,
                   check=lambda: None) -> None:
        """Waits until sim_node (and the policy node) offer their services; ``check()`` may
        raise to stop waiting (a node process that exited: its reason comes at once)."""
        clients = [self._reset] + ([self._enable] if with_policy else [])
        wait_for_services(clients, timeout_s, check)

    def set_policy_enabled(self, enabled: bool, attempts: int = 3) -> None:
        """Asks again when no answer comes: the request is idempotent, and a response can be
        lost while the two ends are still discovering each other on a loaded machine (seen:
        "did not answer in 10.0 s" on the first call after the service appeared)."""
        for attempt in range(attempts):
            try:
                response = self.call(self._enable, SetBool.Request(data=enabled))
                break
            except SessionError:
                if attempt == attempts - 1:
                    raise
        if not response.success:
            raise SessionError(f"policy_node refused enable={enabled}: {response.message}")

    def reset(self, seed: int) -> dict:
        self.set_parameter(self._sim_node, "seed", int(seed))
        response = self.call(self._reset, Trigger.Request())
        if not response.success:
            raise SessionError(f"{self._sim_node} reset failed: {response.message}")
        self.clear_success()
        return json.loads(response.message) if response.message.startswith("{") else {}

    def policy_status(self) -> dict[str, str]:
        """The newest key/values the policy node reported on /diagnostics."""
        with self._lock:
            return dict(self._policy_status)

    def run_episode(self, time_limit_s: float, wall_limit_s: float, record: bool = False,
                    alive=lambda: "") -> EpisodeOutcome:
        """After reset: enable the policy and wait for success, the sim time limit, a dead
        process (``alive()`` returns a reason) or the wall-clock limit (a hung graph)."""
        with self._lock:
            count_at_reset = self._clock_count
            self._frames, self._latest, self._recording = [], {}, record
            self._stillness = Stillness()
        start_wall = time.monotonic()
        start_sim = self._wait_clock_after(count_at_reset, start_wall, wall_limit_s)
        self.clear_success()  # a success published just before the reset may arrive late
        self.set_policy_enabled(True)
        try:
            while True:
                now, success = self.now()
                if success:
                    return self._outcome(True, now - start_sim, "")
                if now - start_sim > time_limit_s:
                    return self._outcome(False, None, f"no success in {time_limit_s:.0f} s")
                if (dead := alive()):
                    return self._outcome(False, None, dead)
                if time.monotonic() - start_wall > wall_limit_s:
                    return self._outcome(False, None, f"hung: sim time stalled at {now:.1f} s")
                time.sleep(0.01)
        finally:
            self._recording = False
            with contextlib.suppress(SessionError):  # a dead policy node: the outcome says so
                self.set_policy_enabled(False)

    def _wait_clock_after(self, count: int, start_wall: float, wall_limit_s: float) -> float:
        while True:
            self._check_stop()
            with self._lock:
                if self._clock_count > count:
                    return self._sim_time
            if time.monotonic() - start_wall > wall_limit_s:
                raise SessionError("sim_node published no /clock after reset")
            time.sleep(0.002)

    def _outcome(self, success: bool, t: float | None, reason: str) -> EpisodeOutcome:
        with self._lock:
            frames, self._frames = self._frames, []
            still_s = self._stillness.still_s()
        return EpisodeOutcome(success, t, reason, frames, still_s)

    def close(self) -> None:
        self._executor.shutdown()
        self.node.destroy_node()


def wait_for_services(clients, timeout_s: float, check=lambda: None) -> None:
    """Waits for every client's service, calling ``check()`` between short waits."""
    deadline = time.monotonic() + timeout_s
    for client in clients:
        while not client.wait_for_service(timeout_sec=0.2):
            check()
            if time.monotonic() > deadline:
                raise SessionError(f"service {client.srv_name} did not appear in {timeout_s} s")


def make_context(domain_id: int | None = None) -> Context:
    """A context of its own; in ``domain_id`` where given, else in ROS_DOMAIN_ID's domain."""
    context = Context()
    rclpy.init(context=context, domain_id=domain_id)
    return context
