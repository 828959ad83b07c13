"""recorder_node: records demonstration episodes as rosbag2 (MCAP) directories.

Raw subscriptions hand the CDR bytes straight to a writer thread (no deserialization). Services
~/start (Trigger), ~/stop (SetBool: data = success) and ~/discard (Trigger); JSON status on
~/status; disk, writer backlog, per-topic receive rates and recording state on /diagnostics.
Topics: the profile's joint states, cameras and command topic, plus the
``topics_when_present`` that have a publisher.
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import String
from std_srvs.srv import SetBool, Trigger

from lam_ros.core import features
from lam_ros.core.commands import profile_topics
from lam_ros.core.profile import load_profile
from lam_ros.core.rates import TopicRates
from lam_ros.data.bag_writer import BagError, TopicSpec, free_disk_mb
from lam_ros.data.recording import EpisodeRecorder
from lam_ros.launcher import exit_with_parent
from lam_ros.ros import qos
from lam_ros.ros.convert import message_class
from lam_ros.ros.diagnostics import ERROR, WARN, Diagnostics, Report, worst_of
from lam_ros.ros.guard import MessageGuard
from lam_ros.ros.params import declare_config
from lam_ros.ros.startup import create_or_refuse, spin_until_shutdown

BACKLOG_WARN = 2000  # queued messages (several seconds at typical rates) before warning


@dataclass(frozen=True)
class RecorderConfig:
    data_root: str = field(default="lam_data", metadata={
        "help": "episodes go to <data_root>/<task>/episode_NNNNNN"})
    task: str = field(default="pick_place", metadata={"help": "task name (a folder)"})
    profile: str = field(default="", metadata={
        "help": "robot profile name or YAML path (required: no robot is implied)"})
    topics_when_present: tuple[str, ...] = field(default=(
        "/joy", "/clock", features.COMMAND_SOURCE_TOPIC), metadata={
        "help": "further topics, recorded once they have a publisher (type from the graph)"})
    min_free_disk_mb: float = field(default=500.0, metadata={
        "help": "end the episode as failed when free disk falls below this"})
    warn_free_disk_mb: float = field(default=2048.0, metadata={
        "help": "/diagnostics warns when free disk falls below this"})
    silence_warn_s: float = field(default=2.0, metadata={
        "help": "warn when a recorded topic is silent for longer than this"})
    seed: int = field(default=-1, metadata={
        "help": "sim seed of the next episode (stored in custom_data; -1 = none)"})
    note: str = field(default="", metadata={"help": "operator note stored with the episode"})
    flush_period_s: float = field(default=0.5, metadata={
        "help": "longest span of messages a killed recorder can lose"})
    queue_depth: int = field(default=1000, metadata={"help": "subscription history depth"})
    max_queued_mb: float = field(default=512.0, metadata={
        "help": "messages waiting for the disk writer, at most (MiB); beyond it new messages "
                "are dropped and counted per topic"})
    status_period_s: float = field(default=0.5, metadata={"help": "status/monitor period"})
    diagnostics_period_s: float = field(default=1.0, metadata={
        "help": "wall seconds between /diagnostics reports"})
    rate_window_s: float = field(default=2.0, metadata={
        "help": "/diagnostics: receive rates and longest gaps over this many wall seconds"})

    def __post_init__(self) -> None:
        positive = ("status_period_s", "max_queued_mb", "diagnostics_period_s", "rate_window_s")
        for name in ("min_free_disk_mb", "warn_free_disk_mb", "silence_warn_s",
                     "flush_period_s", *positive):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if not self.task or "/" in self.task:
            raise ValueError(f"task must be a non-empty folder name, got {self.task!r}")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.queue_depth < 1:
            raise ValueError(f"queue_depth must be >= 1, got {self.queue_depth}")
        bad = [t for t in self.topics_when_present if t and not t.startswith("/")]
        if bad:
            raise ValueError(f"topics_when_present must be absolute topic names, got {bad}")


class RecorderNode(Node):
    def __init__(self, **kwargs):
        super().__init__("recorder_node", **kwargs)
        self.config = declare_config(self, RecorderConfig, on_change=self._on_config, mutable=(
            "seed", "note", "min_free_disk_mb", "warn_free_disk_mb", "silence_warn_s"))
        self.profile = load_profile(self.config.profile)
        self.wanted = profile_topics(self.profile)
        self.recorder = EpisodeRecorder(Path(self.config.data_root) / self.config.task,
                                        self.config.flush_period_s,
                                        int(self.config.max_queued_mb * 2**20))
        self.subscribed: dict[str, TopicSpec] = {}
        self.type_conflicts: dict[str, str] = {}
        self.last_stop = ""
        self.episodes_recorded = 0
        self.rates = TopicRates(self.config.rate_window_s)  # on the monotonic clock
        for topic in self.wanted:
            self.rates.watch(topic, time.monotonic())
        self.messages = MessageGuard(self)
        self.status_pub = self.create_publisher(String, "~/status", qos.STATUS)
        self.create_service(Trigger, "~/start", self._on_start)
        self.create_service(SetBool, "~/stop", self._on_stop)
        self.create_service(Trigger, "~/discard", self._on_discard)
        self.create_timer(self.config.status_period_s, self._monitor)
        self.create_timer(1.0, self._discover)
        self.diagnostics = Diagnostics(self, "recording", self.profile.name,
                                       self.config.diagnostics_period_s, self.diagnostics_report)
        self._discover()

    def _on_config(self, config: RecorderConfig) -> None:
        self.config = config  # only the mutable fields can differ from the start values

    def now_ns(self) -> int:
        return self.get_clock().now().nanoseconds

    # --- topics
    def _discover(self) -> None:
        graph = dict(self.get_topic_names_and_types())
        wanted = dict(self.wanted)
        for topic in filter(None, self.config.topics_when_present):
            wanted.setdefault(topic, "")
        for topic, expected in wanted.items():
            types = graph.get(topic, [])
            if topic in self.subscribed:
                self._check_type(topic, types)
            elif types and (not expected or expected in types):
                self._subscribe(topic, expected or types[0])
            elif types:
                self._report_conflict(topic, f"expected {expected}, graph offers {types}")

    def _subscribe(self, topic: str, msgtype: str) -> None:
        offers = [info.qos_profile for info in self.get_publishers_info_by_topic(topic)]
        if not offers:
            return
        reliable = all(o.reliability == ReliabilityPolicy.RELIABLE for o in offers)
        try:
            spec = TopicSpec(topic, msgtype, reliable=reliable, depth=offers[0].depth or 1,
                             transient_local=any(o.durability == DurabilityPolicy.TRANSIENT_LOCAL
                                                 for o in offers))
            msg_class = message_class(msgtype)
        except (BagError, ImportError, AttributeError) as exc:
            self._report_conflict(topic, f"cannot record type {msgtype}: {exc}")
            return
        profile = QoSProfile(
            history=HistoryPolicy.KEEP_LAST, depth=self.config.queue_depth,
            reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT)
        self.messages.subscribe(msg_class, topic, lambda cdr, t=topic: self._on_message(t, cdr),
                                profile, raw=True)
        self.subscribed[topic] = spec
        self.rates.watch(topic, time.monotonic())
        self.get_logger().info(f"recording {topic} [{msgtype}] "
                               f"({'reliable' if reliable else 'best effort'})")

    def _on_message(self, topic: str, cdr: bytes) -> None:
        self.recorder.put(topic, cdr, self.now_ns())
        self.rates.received(topic, time.monotonic())

    def _check_type(self, topic: str, types: list[str]) -> None:
        recorded = self.subscribed[topic].msgtype
        if types and types != [recorded]:
            self._report_conflict(topic, f"recording {recorded}, but the graph now offers "
                                         f"{types}; messages of other types are not recorded")

    def _report_conflict(self, topic: str, problem: str) -> None:
        self.type_conflicts[topic] = problem
        self.get_logger().warning(f"{topic}: {problem}", throttle_duration_sec=10.0)

    def episode_topics(self) -> list[TopicSpec]:
        """Subscribed topics, plus profile topics nobody publishes yet (they show 0 messages)."""
        silent = [TopicSpec(t, m) for t, m in self.wanted.items() if t not in self.subscribed]
        return [*self.subscribed.values(), *silent]

    # --- episodes
    def start_episode(self) -> tuple[bool, str]:
        free_mb = free_disk_mb(self.config.data_root)
        if free_mb < self.config.min_free_disk_mb:
            return False, (f"only {free_mb:.0f} MB free under {self.config.data_root}, below "
                           f"min_free_disk_mb={self.config.min_free_disk_mb:.0f}")
        facts = {features.EPISODE_TASK: self.config.task,
                 features.EPISODE_PROFILE: self.profile.name,
                 features.EPISODE_PROFILE_HASH: self.profile.fingerprint(),
                 features.EPISODE_NOTE: self.config.note}
        if self.config.seed >= 0:
            facts[features.EPISODE_SEED] = str(self.config.seed)
        try:
            episode_dir = self.recorder.start(self.episode_topics(), facts, self.now_ns())
        except (RuntimeError, OSError) as exc:
            return False, f"cannot start an episode: {exc}"
        self.get_logger().info(f"recording {episode_dir}")
        return True, str(episode_dir)

    def stop_episode(self, success: bool, reason: str) -> tuple[bool, str]:
        if not self.recorder.recording:
            return False, "not recording"
        counts = self.recorder.status(self.now_ns())["counts"]
        try:
            episode_dir = self.recorder.stop(success, reason, self.now_ns())
        except (BagError, OSError) as exc:
            return False, f"closing the episode failed: {exc}"
        self.last_stop = f"{episode_dir.name}: {reason}"
        self.episodes_recorded += 1
        self.get_logger().info(f"closed {episode_dir} ({reason}); messages {counts}")
        return True, json.dumps({"episode_dir": str(episode_dir), "counts": counts})

    def _on_start(self, request, response):
        response.success, response.message = self.start_episode()
        self._publish_status()
        return response

    def _on_stop(self, request, response):
        reason = "operator: success" if request.data else "operator: failure"
        response.success, response.message = self.stop_episode(request.data, reason)
        self._publish_status()
        return response

    def _on_discard(self, request, response):
        if not self.recorder.recording:
            response.success, response.message = False, "not recording"
        else:
            response.success, response.message = True, f"deleted {self.recorder.discard()}"
        self._publish_status()
        return response

    # --- monitoring
    def _monitor(self) -> None:
        if self.recorder.recording:
            self._check_disk()
        if self.recorder.recording:
            silent = self.recorder.silent_topics(self.now_ns(), self.config.silence_warn_s)
            if silent:
                self.get_logger().warning(f"silent for > {self.config.silence_warn_s} s: {silent}",
                                       throttle_duration_sec=5.0)
        status = self.recorder.status(0)
        if status["queued"] > BACKLOG_WARN:
            self.get_logger().warning(f"disk writer falling behind: {status['queued']} messages "
                                      "queued", throttle_duration_sec=5.0)
        if dropped := {t: n for t, n in status["dropped"].items() if n}:
            self.get_logger().warning(
                f"disk writer cannot keep up: messages dropped this episode {dropped} (queue "
                f"full at max_queued_mb={self.config.max_queued_mb:g})", throttle_duration_sec=5.0)
        if self.recorder.write_errors:
            self.get_logger().error(f"{self.recorder.write_errors} messages failed to write; "
                                    f"last: {self.recorder.last_error}", throttle_duration_sec=5.0)
        self._publish_status()

    def _check_disk(self) -> None:
        free_mb = self.recorder.free_disk_after_queue_mb()  # the queued messages still need room
        if free_mb < self.config.min_free_disk_mb:
            reason = (f"disk floor: {free_mb:.0f} MB free once the queued messages are written "
                      f"< min_free_disk_mb={self.config.min_free_disk_mb:.0f}; episode ended as "
                      "failed")
            self.get_logger().error(reason)
            self.stop_episode(False, reason)

    def _publish_status(self) -> None:
        status = self.recorder.status(self.now_ns())
        status.update(topics=sorted(self.subscribed), type_conflicts=self.type_conflicts,
                      unusable_messages=dict(self.messages.dropped),
                      last_stop=self.last_stop)
        self.status_pub.publish(String(data=json.dumps(status)))

    def diagnostics_report(self) -> Report:
        config, status, now = self.config, self.recorder.status(self.now_ns()), time.monotonic()
        free_mb = self.recorder.free_disk_after_queue_mb()
        state = f"recording {status['episode']}" if status["recording"] else "idle"
        values = {
            "state": state,
            "episodes_recorded": str(self.episodes_recorded),
            "elapsed_s": f"{status['elapsed_s']:.1f}",
            "last_stop": self.last_stop,
            "disk.free_mb": f"{free_mb:.0f}",
            "disk.write_errors": str(status["write_errors"]),
            "disk.last_error": status["last_error"],
            "backlog.queued_mb": f"{status['queued_bytes'] / 2**20:.1f}",
            "backlog.max_queued_mb": f"{config.max_queued_mb:g}",
            "backlog.queued_messages": str(status["queued"]),
            **{f"backlog.dropped.{t}": str(n) for t, n in sorted(status["dropped"].items())},
        }
        for topic, window in sorted(self.rates.topics.items()):
            values[f"rate_hz.{topic}"] = f"{window.rate(now):.1f}"
            values[f"max_gap_s.{topic}"] = f"{window.longest_gap_s(now):.3f}"
        values.update(self.messages.report())

        problems = []
        disk = f"{free_mb:.0f} MB free under {config.data_root}"
        if free_mb < config.min_free_disk_mb:
            problems.append((ERROR, f"{disk} < min_free_disk_mb={config.min_free_disk_mb:g}: "
                                    "no episode can start"))
        elif free_mb < config.warn_free_disk_mb:
            problems.append((WARN, f"{disk} < warn_free_disk_mb={config.warn_free_disk_mb:g}"))
        if failed := sum(status["failed"].values()):
            problems.append((ERROR, f"{failed} messages failed to write this episode; last: "
                                    f"{status['last_error']}"))
        if dropped := sum(status["dropped"].values()):
            problems.append((WARN, f"disk writer cannot keep up: {dropped} messages dropped "
                                   "this episode"))
        if status["queued"] > BACKLOG_WARN:
            problems.append((WARN, f"disk writer falling behind: {status['queued']} messages "
                                   "queued"))
        if silent := self.rates.silent(now, config.silence_warn_s):
            problems.append((WARN, f"no messages on {', '.join(silent)} for > "
                                   f"{config.silence_warn_s:g} s"))
        problems += [(WARN, f"{topic}: {problem}")
                     for topic, problem in sorted(self.type_conflicts.items())]
        return worst_of(problems, state, values)

    def close(self) -> None:
        """Closes an open episode (as failed: it did not end by the operator's choice)."""
        if self.recorder.recording:
            self.stop_episode(False, "recorder shut down while recording")
        self.recorder.shutdown()


def main(args=None) -> int:
    exit_with_parent()
    rclpy.init(args=args)
    node = create_or_refuse(RecorderNode, "recorder_node")
    if node is None:
        return 1
    # One thread: rclpy's MultiThreadedExecutor costs ~3x the CPU per message and dropped
    # joint states in bench/record.py. Blocking in ~/stop is fine here: messages that arrive
    # while the episode closes belong to no episode.
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        spin_until_shutdown(executor.spin)
    finally:
        node.close()
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
