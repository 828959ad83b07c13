"""Fuzzing the node graph over real DDS: generated messages, valid and malformed, into sim_node,
teleop_node, recorder_node and policy_node running as processes; then checks that every node is
alive and answering, no command was unsafe, and the recorder accounted for every message.

The harness plays the robot (the one seam faked: an arm that goes where the policy commands and
publishes its joint states and camera images, stamped now) and mixes fuzzed messages into those
same topics. sim_node's outputs are moved aside so it only receives fuzzed commands (on every
command group's topic); teleop's commands go to topics of their own, so the policy alone drives
the robot. A node's commands are checked as full vectors, put together from its groups' messages.

A command is unsafe when it is not finite, is outside a joint limit, or moves a joint further
than the velocity limit allows from the same node's previous command while that node was
commanding without a pause (after a hold, a node may restart from where the robot is).
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import Image, Joy
from std_msgs.msg import String
from std_srvs.srv import SetBool, Trigger

from lam_ros.core.commands import CommandAssembler
from lam_ros.core.paths import models_dir
from lam_ros.core.profile import load_profile
from lam_ros.core.teleop import TeleopConfig
from lam_ros.launcher import NodeGroup, NodeSpec
from lam_ros.ros import fuzz_messages as gen
from lam_ros.ros import qos
from lam_ros.ros.command_publisher import MESSAGE_CLASSES
from lam_ros.ros.convert import rgb_to_image, sec_to_stamp
from lam_ros.ros.guard import MessageGuard
from lam_ros.ros.joint_states import JointStatePublisher
from lam_ros.ros.sim_session import SessionError, make_context, wait_for_services
from lam_ros.sim.config import SIM_PROFILE

SIM_INPUTS, TELEOP_OUTPUTS = "/fuzz/sim", "/fuzz/teleop"  # prefixes of moved command topics
TASK = "fuzz"


@dataclass
class FuzzReport:
    sent: dict[str, int]  # node -> fuzzed messages sent on topics it subscribes to
    crashed: dict[str, int] = field(default_factory=dict)  # node -> exit code
    crash_reasons: str = ""
    unanswered: list[str] = field(default_factory=list)  # services that did not answer after
    commands: Counter = field(default_factory=Counter)  # node -> commands checked
    unsafe: list[str] = field(default_factory=list)
    recorder: dict[str, Counter] = field(default_factory=dict)  # topic -> counts, all episodes
    episodes: int = 0
    recorder_problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.crashed or self.unanswered or self.unsafe or self.recorder_problems)

    def lines(self) -> list[str]:
        out = [f"messages sent per node: {json.dumps(self.sent)}",
               f"crashes: {len(self.crashed)} {self.crash_reasons}",
               f"unanswered services: {len(self.unanswered)} {self.unanswered or ''}",
               f"commands checked: {dict(self.commands)}",
               f"unsafe commands: {len(self.unsafe)}"]
        out += [f"  {u}" for u in self.unsafe[:10]]
        out.append(f"recorder: {self.episodes} episodes kept; accounting problems: "
                   f"{len(self.recorder_problems)}")
        out += [f"  {p}" for p in self.recorder_problems[:10]]
        return out


class CommandChecker:
    """Checks every command of one node against the limits and its previous command."""

    def __init__(self, profile, node: str):
        self.node = node
        self.lower = np.array([j.lower for j in profile.joints])
        self.upper = np.array([j.upper for j in profile.joints])
        self.max_step = np.array([j.max_velocity for j in profile.joints]) * profile.control_period
        self.pause_s = 1.5 * profile.control_period
        self.previous: tuple[float, np.ndarray] | None = None
        self.count = 0
        self.unsafe: list[str] = []

    def check(self, values) -> np.ndarray:
        now, command = time.monotonic(), np.asarray(values, dtype=np.float64)
        self.count += 1
        problem = ""
        if command.shape != self.lower.shape:
            problem = f"{command.size} values for {self.lower.size} joints"
        elif not np.all(np.isfinite(command)):
            problem = f"non-finite {command.tolist()}"
        elif np.any(command < self.lower - 1e-9) or np.any(command > self.upper + 1e-9):
            problem = f"outside the joint limits: {np.round(command, 4).tolist()}"
        elif self.previous is not None and now - self.previous[0] <= self.pause_s:
            step = np.abs(command - self.previous[1])
            if np.any(step > self.max_step + 1e-9):
                joint = int(np.argmax(step - self.max_step))
                problem = (f"joint {joint} moved {step[joint]:.4f} rad in one step "
                           f"(limit {self.max_step[joint]:.4f})")
        if problem:
            self.unsafe.append(f"{self.node}: {problem}")
        self.previous = (now, command)
        return command


class Fuzzer(Node):
    """Publishes the robot's valid traffic and the fuzzed messages; checks commands."""

    def __init__(self, context, profile, seed: int):
        super().__init__("lam_ros_fuzzer", context=context)
        self.profile = profile
        self.rng = np.random.default_rng(seed)
        self.robot_q = np.array(profile.home, dtype=np.float64)  # where the policy put the arm
        self.joint_states = JointStatePublisher(self, profile, list(profile.joint_names))
        self.cameras = {c.topic: (c, self.create_publisher(Image, c.topic, qos.SENSOR))
                        for c in profile.cameras}
        self.joy = self.create_publisher(Joy, "/joy", 10)
        self.clock = self.create_publisher(Clock, "/clock", qos.CLOCK)
        self.sim_commands = [(group, self.create_publisher(
            MESSAGE_CLASSES[group.interface], SIM_INPUTS + group.topic, qos.COMMAND))
            for group in profile.command_groups]
        self.checkers = {n: CommandChecker(profile, n) for n in ("policy_node", "teleop_node")}
        self.messages = MessageGuard(self)
        for node, prefix in (("policy_node", ""), ("teleop_node", TELEOP_OUTPUTS)):
            assembler = CommandAssembler(profile)
            for group in profile.command_groups:
                self.messages.subscribe(
                    MESSAGE_CLASSES[group.interface], prefix + group.topic,
                    lambda m, n=node, g=group, a=assembler: self._on_command(n, a, g, m),
                    qos.COMMAND)
        self.recorder_status: dict = {}
        self.messages.subscribe(String, "/recorder_node/status", self._on_status, qos.STATUS)
        self.sent: Counter[str] = Counter()  # topic -> fuzzed messages
        self.service_clients = {}  # service name -> client
        self.create_timer(0.02, self._robot_joints)
        self.create_timer(0.05, self._robot_images)

    def now_s(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_command(self, node: str, assembler: CommandAssembler, group, msg) -> None:
        full = assembler.add(group, msg)
        if full is None:
            return
        checker = self.checkers[node]
        command = checker.check(full)
        if node == "policy_node" and np.all(np.isfinite(command)):  # the robot follows it
            self.robot_q = np.clip(command, checker.lower, checker.upper)

    def _on_status(self, msg: String) -> None:
        self.recorder_status = json.loads(msg.data)

    def _robot_joints(self) -> None:
        self.joint_states.publish(self.robot_q, None, sec_to_stamp(self.now_s()))

    def _robot_images(self) -> None:
        stamp = sec_to_stamp(self.now_s())
        for camera, publisher in self.cameras.values():
            shade = int(self.robot_q[0] * 40) % 256  # the picture changes as the arm moves
            rgb = np.full((camera.height, camera.width, 3), shade, np.uint8)
            publisher.publish(rgb_to_image(rgb, stamp, camera.name))

    def send_one(self, target: str) -> None:
        """One fuzzed message for ``target``: joints, image, joy, clock or sim."""
        rng, now = self.rng, self.now_s()
        if target == "joints":
            split = self.joint_states.split
            topic = list(split)[rng.integers(len(split))]
            names = [self.profile.joint_names[k] for k in split[topic]]
            self.joint_states.publishers[topic].publish(
                gen.joint_state(rng, names, self.robot_q[split[topic]], now))
            self.sent[topic] += 1
        elif target == "image":
            topic = list(self.cameras)[rng.integers(len(self.cameras))]
            camera, publisher = self.cameras[topic]
            publisher.publish(gen.image(rng, camera.width, camera.height, now))
            self.sent[topic] += 1
        elif target == "joy":
            self.joy.publish(gen.joy(rng, now))
            self.sent["/joy"] += 1
        elif target == "clock":
            self.clock.publish(gen.clock(rng, now))
            self.sent["/clock"] += 1
        else:
            group, publisher = self.sim_commands[rng.integers(len(self.sim_commands))]
            publisher.publish(
                gen.trajectory_command(rng, group.joints) if group.timed
                else gen.opening_command(rng) if group.interface == "float64"
                else gen.positions_command(rng, len(group.joints)))
            self.sent[SIM_INPUTS + group.topic] += 1


def node_specs(profile_name: str, model: str, data_root: Path) -> list[NodeSpec]:
    profile = load_profile(profile_name)
    moved = [*profile.joint_state_topics, "/clock", *(c.topic for c in profile.cameras),
             *(g.topic for g in profile.command_groups)]
    robot = {"profile": profile_name}
    return [
        NodeSpec("sim_node", params={**robot, "real_time_factor": 1.0},
                 remaps={t: SIM_INPUTS + t for t in moved}),
        NodeSpec("policy_node", params={**robot, "model": model}),
        NodeSpec("teleop_node", params=robot,
                 remaps={g.topic: TELEOP_OUTPUTS + g.topic for g in profile.command_groups}),
        NodeSpec("recorder_node", params={**robot, "data_root": str(data_root), "task": TASK,
                                          "status_period_s": 0.2}),
    ]


def node_inputs(profile) -> dict[str, set[str]]:
    """The fuzzed topics each node subscribes to."""
    cameras = {c.topic for c in profile.cameras}
    joints = set(profile.joint_state_topics)
    return {"sim_node": {SIM_INPUTS + g.topic for g in profile.command_groups},
            "policy_node": {*joints, *cameras},
            "teleop_node": {*joints, "/joy"},
            "recorder_node": {*joints, *cameras, "/joy", "/clock"}}


def run_fuzz(messages_per_node: int, seed: int = 0, profile_name: str = SIM_PROFILE,
             model: str = "", rate_hz: float = 600.0, progress=print) -> FuzzReport:
    """Runs the graph, sends about ``messages_per_node`` fuzzed messages to each node at
    ``rate_hz`` in all, and reports what happened."""
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")  # never off this host
    profile = load_profile(profile_name)
    model = model or str(models_dir() / "demo" / "policy.onnx")
    with tempfile.TemporaryDirectory(prefix="lam_ros_fuzz_") as tmp:
        data_root = Path(tmp) / "data"
        context = make_context()
        nodes = NodeGroup(node_specs(profile_name, model, data_root), log_dir=Path(tmp) / "logs")
        fuzzer = Fuzzer(context, profile, seed)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(fuzzer)
        threading.Thread(target=executor.spin, daemon=True).start()
        try:
            nodes.start()
            report = _fuzz(fuzzer, nodes, profile, messages_per_node, rate_hz, data_root,
                           progress)
        finally:
            executor.shutdown()
            nodes.stop()
            fuzzer.destroy_node()
            rclpy.try_shutdown(context=context)
    return report


def _call(node: Fuzzer, srv_type, name: str, request, check) -> object | None:
    """The service's answer, or None when it did not appear or answer."""
    if name not in node.service_clients:
        node.service_clients[name] = node.create_client(srv_type, name)
    client = node.service_clients[name]
    try:
        wait_for_services([client], 30.0, check)
    except SessionError:
        return None
    future = client.call_async(request)
    deadline = time.monotonic() + 10.0
    while not future.done() and time.monotonic() < deadline:
        time.sleep(0.01)
    return future.result() if future.done() else None


def _fuzz(fuzzer: Fuzzer, nodes: NodeGroup, profile, per_node: int, rate_hz: float,
          data_root: Path, progress) -> FuzzReport:
    enable = _call(fuzzer, SetBool, "/policy_node/enable", SetBool.Request(data=True),
                   nodes.check)
    start = _call(fuzzer, Trigger, "/recorder_node/start", Trigger.Request(), nodes.check)
    if enable is None or start is None or not start.success:
        raise SessionError(f"the graph did not start: enable={enable}, start={start}")
    # Per message: joints and images share the policy's budget, joy the rest of teleop's.
    weights = {"joints": 0.5, "image": 0.5, "joy": 0.5, "clock": 0.05, "sim": 1.0}
    targets, p = list(weights), np.array(list(weights.values())) / sum(weights.values())
    inputs = node_inputs(profile)

    def fewest() -> int:  # messages sent to the node that has had the fewest
        return min(sum(fuzzer.sent[t] for t in topics) for topics in inputs.values())

    begin, last_report, i = time.monotonic(), time.monotonic(), 0
    while i % 100 or (fewest() < per_node and not nodes.dead()):
        fuzzer.send_one(targets[fuzzer.rng.choice(len(targets), p=p)])
        i += 1
        if time.monotonic() - last_report > 10.0:
            last_report = time.monotonic()
            progress(f"fuzz: {i} messages, fewest per node {fewest()}/{per_node}, "
                     f"{time.monotonic() - begin:.0f} s")
        if i % 100 == 0:  # the policy may disable itself on faults: keep it commanding
            _call(fuzzer, SetBool, "/policy_node/enable", SetBool.Request(data=True),
                  lambda: None)
        time.sleep(max(0.0, begin + i / rate_hz - time.monotonic()))
    report = FuzzReport(sent={n: sum(fuzzer.sent[t] for t in topics)
                              for n, topics in inputs.items()})
    report.crashed, report.crash_reasons = nodes.dead(), nodes.exit_reasons()
    _check_answers(fuzzer, nodes, report)
    for node, checker in fuzzer.checkers.items():
        report.commands[node] = checker.count
        report.unsafe += checker.unsafe
    _check_recorder(fuzzer, report, data_root)
    return report


def _check_answers(fuzzer: Fuzzer, nodes: NodeGroup, report: FuzzReport) -> None:
    """Every node still answers: services, teleop jogs on a valid joystick, and the recorder
    keeps a clean episode of the robot's traffic (fuzzed buttons may have discarded every
    episode of the fuzz itself)."""
    stop = (SetBool, "/recorder_node/stop", SetBool.Request(data=True))
    for srv_type, name, request in ((SetBool, "/policy_node/enable", SetBool.Request(data=False)),
                                    (Trigger, "/sim_node/reset", Trigger.Request()), stop,
                                    (Trigger, "/recorder_node/start", Trigger.Request()), stop):
        if _call(fuzzer, srv_type, name, request, lambda: None) is None:
            report.unanswered.append(name)
        if name == "/recorder_node/start":
            time.sleep(1.0)  # the robot's joint states and images flow all the time
    teleop = fuzzer.checkers["teleop_node"]
    before, config = teleop.count, TeleopConfig()
    deadline = time.monotonic() + 10.0
    while teleop.count < before + 3 and time.monotonic() < deadline:
        msg = Joy(axes=[0.0] * 6, buttons=[0] * 15)
        msg.axes[config.axis_z] = 1.0
        msg.buttons[config.deadman_button] = 1
        fuzzer.joy.publish(msg)
        time.sleep(0.05)
    if teleop.count < before + 3:
        report.unanswered.append("teleop_node: no commands for a held deadman after the fuzz")


def _check_recorder(fuzzer: Fuzzer, report: FuzzReport, data_root: Path) -> None:
    """Per episode and topic: received = written + dropped + failed, and written = what the bag
    holds. Fuzzed joystick buttons start, stop and discard episodes too: every kept one counts."""
    from lam_ros.core import features
    from lam_ros.data.bag_info import find_episodes, read_custom_data

    episodes = find_episodes(data_root / TASK)
    if not episodes:
        report.recorder_problems.append("no episode was kept")
    for episode in episodes:
        try:  # an episode stopped at once holds no message, and still has its metadata
            health = json.loads(read_custom_data(episode)[features.EPISODE_HEALTH])
        except Exception as exc:  # a bag the recorder wrote must read back
            report.recorder_problems.append(f"{episode.name}: {type(exc).__name__}: {exc}")
            continue
        in_bag = _count_messages(episode)
        for topic, counts in health.items():
            written = counts.get("count", 0)
            received = counts.get("received", written)
            dropped, failed = counts.get("dropped", 0), counts.get("failed", 0)
            totals = report.recorder.setdefault(topic, Counter())
            totals.update(received=received, written=written, dropped=dropped, failed=failed,
                          in_bag=in_bag.get(topic, 0))
            where = f"{episode.name} {topic}"
            if received != written + dropped + failed:
                report.recorder_problems.append(
                    f"{where}: received {received} != written {written} + dropped {dropped} "
                    f"+ failed {failed}")
            if in_bag.get(topic, 0) != written:
                report.recorder_problems.append(
                    f"{where}: the bag holds {in_bag.get(topic, 0)}, metadata says {written}")
    report.episodes = len(episodes)


def _count_messages(episode_dir: Path) -> Counter:
    """Messages per topic, read back by the mcap package (not the writer's own library)."""
    from mcap.reader import make_reader

    counts: Counter[str] = Counter()
    for path in episode_dir.glob("*.mcap"):
        with path.open("rb") as stream:
            for _, channel, _ in make_reader(stream).iter_messages():
                counts[channel.topic] += 1
    return counts
