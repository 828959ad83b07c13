"""recorder_node in-process over real DDS: episodes read back by rosbags and mcap."""

import json
import threading
import time

import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticStatus
from diagnostics_reports import DiagnosticsReports
from mcap.reader import make_reader
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rosbags.rosbag2 import Reader
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Float64MultiArray, String
from std_srvs.srv import SetBool, Trigger
from waiting import wait_for

from lam_ros.core import features
from lam_ros.data.bag_info import read_episode_info
from lam_ros.data.bag_writer import TYPESTORE
from lam_ros.nodes.recorder_node import RecorderNode

pytestmark = pytest.mark.ros
RELIABLE = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
DIAGNOSTICS = {"diagnostics_period_s": 0.2, "rate_window_s": 1.0, "silence_warn_s": 0.5}


class Graph:
    """A recorder node and an operator node (publishers + service clients), spun in a thread."""

    def __init__(self, context, data_root, **params):
        overrides = [Parameter("data_root", value=str(data_root)),
                     Parameter("profile", value="panda_sim"),
                     Parameter("status_period_s", value=0.1)]
        overrides += [Parameter(k, value=v) for k, v in params.items()]
        self.recorder = RecorderNode(context=context, parameter_overrides=overrides)
        self.operator = Node("operator", context=context)
        self.joints = self.operator.create_publisher(JointState, "/joint_states", RELIABLE)
        self.commands = self.operator.create_publisher(
            Float64MultiArray, "/forward_position_controller/commands", RELIABLE)
        self.start = self.operator.create_client(Trigger, "/recorder_node/start")
        self.stop = self.operator.create_client(SetBool, "/recorder_node/stop")
        self.executor = SingleThreadedExecutor(context=context)
        for node in (self.recorder, self.operator):
            self.executor.add_node(node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()
        wait_for(lambda: {"/joint_states", "/forward_position_controller/commands"}
                 <= set(self.recorder.subscribed), what="recorder subscriptions")
        wait_for(lambda: self.joints.get_subscription_count() > 0, what="DDS match")

    def call(self, client, request):
        assert client.wait_for_service(timeout_sec=10)
        future = client.call_async(request)
        wait_for(future.done, what=f"{client.srv_name} answer")
        return future.result()

    def publish(self, n, stamp0_s=100.0):
        for i in range(n):
            msg = JointState(name=["panda_joint1"], position=[0.01 * i])
            msg.header.stamp.sec = int(stamp0_s) + i // 100
            msg.header.stamp.nanosec = (i % 100) * 10_000_000
            self.joints.publish(msg)
            if i % 10 == 0:
                self.commands.publish(Float64MultiArray(data=[float(i)] * 8))
            time.sleep(0.002)

    def counts(self):
        return self.recorder.recorder.status(0)["counts"]

    def diagnostics(self):
        return DiagnosticsReports(self.operator, "recorder_node: recording")

    def close(self):
        self.recorder.close()
        self.executor.shutdown()
        for node in (self.recorder, self.operator):
            node.destroy_node()


@pytest.fixture
def graph(rclpy_context, tmp_path, request):
    g = Graph(rclpy_context, tmp_path, **getattr(request, "param", {}))
    yield g
    g.close()


def test_episode_counts_and_stamps_round_trip(graph, tmp_path):
    graph.recorder.set_parameters([Parameter("seed", value=42)])
    started = graph.call(graph.start, Trigger.Request())
    assert started.success, started.message
    graph.publish(300)
    wait_for(lambda: graph.counts().get("/joint_states") == 300, what="300 joint states")
    stopped = graph.call(graph.stop, SetBool.Request(data=True))
    assert stopped.success, stopped.message
    episode = tmp_path / "pick_place" / "episode_000000"
    assert json.loads(stopped.message)["episode_dir"] == str(episode)

    with Reader(episode) as reader:
        counts = {c.topic: c.msgcount for c in reader.connections}
        stamps = [TYPESTORE.deserialize_cdr(raw, c.msgtype).header.stamp
                  for c, _, raw in reader.messages() if c.topic == "/joint_states"]
    assert counts["/joint_states"] == 300
    assert counts["/forward_position_controller/commands"] == 30
    assert [(s.sec, s.nanosec) for s in stamps] == [
        (100 + i // 100, (i % 100) * 10_000_000) for i in range(300)]
    with (episode / "episode_000000.mcap").open("rb") as f:
        mcap_counts = {}
        for _, channel, _ in make_reader(f).iter_messages():
            mcap_counts[channel.topic] = mcap_counts.get(channel.topic, 0) + 1
    assert mcap_counts == {t: c for t, c in counts.items() if c}

    info = read_episode_info(episode)
    assert info.success
    assert info.custom_data[features.EPISODE_SEED] == "42"
    assert info.custom_data[features.EPISODE_TASK] == "pick_place"
    assert info.custom_data[features.EPISODE_PROFILE] == "panda_sim"
    assert info.health["/joint_states"]["count"] == 300
    assert info.health["/joint_states"]["out_of_order"] == 0
    assert info.health["/front/image_raw"]["count"] == 0  # nobody published: visible, not hidden


def test_disk_floor_ends_episode_as_failed(graph, tmp_path):
    assert graph.call(graph.start, Trigger.Request()).success
    graph.publish(50)
    wait_for(lambda: graph.counts().get("/joint_states") == 50, what="50 joint states")
    graph.recorder.set_parameters([Parameter("min_free_disk_mb", value=1e12)])
    wait_for(lambda: graph.recorder.last_stop, what="episode to end")
    info = read_episode_info(tmp_path / "pick_place" / "episode_000000")
    assert not info.success
    assert "disk floor" in info.custom_data[features.EPISODE_STOP_REASON]
    assert info.topics["/joint_states"][1] == 50

    refused = graph.call(graph.start, Trigger.Request())  # the node is alive and says why
    assert not refused.success
    assert "min_free_disk_mb" in refused.message
    graph.recorder.set_parameters([Parameter("min_free_disk_mb", value=0.0)])
    assert graph.call(graph.start, Trigger.Request()).success
    assert graph.call(graph.stop, SetBool.Request(data=False)).success
    assert (tmp_path / "pick_place" / "episode_000001" / "metadata.yaml").is_file()


@pytest.mark.parametrize("graph", [{"topics_when_present": ["/extra"]}], indirect=True)
def test_type_change_is_reported_and_discard_deletes(graph, tmp_path):
    first = graph.operator.create_publisher(String, "/extra", RELIABLE)
    wait_for(lambda: "/extra" in graph.recorder.subscribed, what="/extra subscribed")
    assert graph.call(graph.start, Trigger.Request()).success
    wait_for(lambda: first.get_subscription_count() > 0, what="/extra matched")
    for _ in range(5):
        first.publish(String(data="hello"))
    wait_for(lambda: graph.counts().get("/extra") == 5, what="5 strings written")
    graph.operator.destroy_publisher(first)
    other = Context()  # DDS refuses two types on one topic within one participant
    rclpy.init(context=other)
    try:
        other_node = Node("other_process", context=other)
        other_node.create_publisher(Bool, "/extra", RELIABLE)
        wait_for(lambda: "/extra" in graph.recorder.type_conflicts, what="type change reported")
    finally:
        rclpy.try_shutdown(context=other)
    assert "std_msgs/msg/Bool" in graph.recorder.type_conflicts["/extra"]
    assert graph.recorder.recorder.recording  # not fatal
    discard = graph.operator.create_client(Trigger, "/recorder_node/discard")
    assert graph.call(discard, Trigger.Request()).success
    assert not (tmp_path / "pick_place" / "episode_000000").exists()
    assert not graph.call(discard, Trigger.Request()).success  # nothing left to discard


class Publishing:
    """Publishes joint states at ``hz`` (commands at a fifth of it) from a thread, paced by
    absolute deadlines so that a late wake-up does not lower the average rate."""

    def __init__(self, graph, hz):
        self.graph, self.period = graph, 1.0 / hz
        self.joint_states = threading.Event()
        self.joint_states.set()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        deadline, i = time.monotonic(), 0
        while not self.stopped.is_set():
            if self.joint_states.is_set():
                self.graph.joints.publish(JointState(name=["panda_joint1"], position=[0.0]))
            if i % 5 == 0:
                self.graph.commands.publish(Float64MultiArray(data=[0.0] * 8))
            i += 1
            deadline += self.period
            time.sleep(max(0.0, deadline - time.monotonic()))

    def stop(self):
        self.stopped.set()
        self.thread.join()


@pytest.mark.parametrize("graph", [DIAGNOSTICS], indirect=True)
def test_diagnostics_report_rates_state_and_a_topic_that_stopped(graph):
    reports = graph.diagnostics()
    assert graph.call(graph.start, Trigger.Request()).success
    publishing = Publishing(graph, hz=50.0)
    try:
        status, report = reports.next(
            lambda s, v: 40.0 < float(v["rate_hz./joint_states"]) < 60.0,
            "a joint-state rate near 50 Hz")
        assert report["state"] == "recording episode_000000"
        assert float(report["max_gap_s./joint_states"]) < 0.5
        assert float(report["rate_hz./forward_position_controller/commands"]) > 0
        assert report["backlog.dropped./joint_states"] == "0"
        assert "/front/image_raw" in status.message  # never published: silent
        assert "/joint_states" not in status.message

        publishing.joint_states.clear()  # the joint states stop, the commands go on
        status, report = reports.next(lambda s, v: "/joint_states" in s.message,
                                      "a warning naming /joint_states")
    finally:
        publishing.stop()
    assert status.level == DiagnosticStatus.WARN
    assert "/forward_position_controller/commands" not in status.message
    assert float(report["max_gap_s./joint_states"]) > DIAGNOSTICS["silence_warn_s"]

    assert graph.call(graph.stop, SetBool.Request(data=True)).success
    _, report = reports.next(lambda s, v: v["state"] == "idle", "idle")
    assert report["episodes_recorded"] == "1"
    assert report["last_stop"] == "episode_000000: operator: success"


@pytest.mark.parametrize("graph", [DIAGNOSTICS], indirect=True)
def test_diagnostics_warn_on_low_disk_and_error_below_the_floor(graph, tmp_path):
    reports = graph.diagnostics()
    graph.recorder.set_parameters([Parameter("warn_free_disk_mb", value=1e12)])
    status, report = reports.next(lambda s, v: "warn_free_disk_mb" in s.message,
                                  "a low-disk warning")
    assert status.level == DiagnosticStatus.WARN
    assert f"under {tmp_path}" in status.message and float(report["disk.free_mb"]) > 0
    graph.recorder.set_parameters([Parameter("min_free_disk_mb", value=1e12)])
    status, _ = reports.next(lambda s, v: "min_free_disk_mb" in s.message, "a disk-floor error")
    assert status.level == DiagnosticStatus.ERROR
