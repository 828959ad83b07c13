"""A recorder killed with SIGKILL mid-episode: earlier episodes intact, the open one salvaged."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import JointState
from std_msgs.msg import String
from std_srvs.srv import SetBool, Trigger
from waiting import wait_for

from lam_ros.core import features
from lam_ros.data.bag_info import read_episode_info
from lam_ros.launcher import NodeGroup, NodeSpec
from lam_ros.ros import qos

pytestmark = pytest.mark.ros
RELIABLE = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
WAIT_S = 20.0  # subprocess start-up on a loaded 2-core machine


class Operator:
    def __init__(self, context):
        self.node = Node("kill_test_operator", context=context)
        self.joints = self.node.create_publisher(JointState, "/joint_states", RELIABLE)
        self.start = self.node.create_client(Trigger, "/recorder_node/start")
        self.stop = self.node.create_client(SetBool, "/recorder_node/stop")
        self.status = {}
        self.node.create_subscription(String, "/recorder_node/status",
                                      lambda m: setattr(self, "status", json.loads(m.data)),
                                      qos.STATUS)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        threading.Thread(target=self.executor.spin, daemon=True).start()
        self.published = 0
        self.streaming = False

    def call(self, client, request):
        assert client.wait_for_service(timeout_sec=20), f"{client.srv_name} missing"
        future = client.call_async(request)
        wait_for(future.done, WAIT_S, what=client.srv_name)
        return future.result()

    def publish_one(self):
        msg = JointState(name=["panda_joint1"], position=[float(self.published)])
        msg.header.stamp.sec = self.published
        self.joints.publish(msg)
        self.published += 1
        time.sleep(0.004)

    def stream(self):
        while self.streaming:
            self.publish_one()

    def written(self):
        return self.status.get("counts", {}).get("/joint_states", 0)

    def saved(self):
        return self.status.get("saved", 0)

    def record(self, count):
        """Starts an episode once the recorder listens and waits until ``count`` joint states
        it was sent are written."""
        wait_for(lambda: self.joints.get_subscription_count() > 0, WAIT_S,
                 what="recorder subscribes")
        assert self.call(self.start, Trigger.Request()).success
        for _ in range(count):
            self.publish_one()
        wait_for(lambda: self.written() == count, WAIT_S, what=f"{count} messages written")


def test_sigkill_mid_episode(tmp_path, rclpy_context):
    spec = NodeSpec("recorder_node", params={"data_root": str(tmp_path), "flush_period_s": 0.2,
                                             "status_period_s": 0.1, "profile": "panda_sim"})
    group = NodeGroup([spec], log_dir=tmp_path / "logs").start()
    operator = Operator(rclpy_context)
    try:
        operator.record(200)
        assert operator.call(operator.stop, SetBool.Request(data=True)).success

        assert operator.call(operator.start, Trigger.Request()).success
        operator.streaming = True
        streamer = threading.Thread(target=operator.stream)
        streamer.start()
        wait_for(lambda: operator.written() >= 100, WAIT_S, what="episode 2 under way")
        written = operator.written()
        wait_for(lambda: operator.saved() >= written, WAIT_S, what="a flush past them")
        saved = operator.saved()  # the recorder said these are in the file
        os.killpg(group.procs["recorder_node"].pid, signal.SIGKILL)
        group.procs["recorder_node"].wait()
        operator.streaming = False
        streamer.join()
    finally:
        operator.executor.shutdown()
        group.stop()

    task_dir = tmp_path / "pick_place"
    first = read_episode_info(task_dir / "episode_000000")
    assert first.topics["/joint_states"][1] == 200 and first.success

    repair = subprocess.run([sys.executable, "-m", "lam_ros.cli", "bag", "repair", str(task_dir)],
                            capture_output=True, text=True, timeout=60)
    assert repair.returncode == 0, repair.stdout + repair.stderr
    assert "1 intact, 1 repaired, 0 quarantined" in repair.stdout
    second = read_episode_info(task_dir / "episode_000001")
    assert second.custom_data[features.EPISODE_STATUS] == "repaired"
    assert not second.success
    assert second.topics["/joint_states"][1] >= saved >= written > 0
    info = subprocess.run([sys.executable, "-m", "lam_ros.cli", "bag", "info", str(task_dir)],
                          capture_output=True, text=True, timeout=60)
    assert info.returncode == 0, info.stdout
    assert "status=repaired" in info.stdout and "0 unusable" in info.stdout


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_sigint_sigterm_close_the_episode(tmp_path, signum, rclpy_context):
    group = NodeGroup([NodeSpec("recorder_node", params={"data_root": str(tmp_path),
                                                         "profile": "panda_sim"})],
                      log_dir=tmp_path / "logs").start()
    operator = Operator(rclpy_context)
    try:
        operator.record(50)
        process = group.procs["recorder_node"]
        process.send_signal(signum)
        assert process.wait(timeout=20) is not None
    finally:
        operator.executor.shutdown()
        group.stop()
    info = read_episode_info(tmp_path / "pick_place" / "episode_000000")
    assert info.topics["/joint_states"][1] == 50
    assert not info.success
    assert "shut down" in info.custom_data[features.EPISODE_STOP_REASON]
    assert info.custom_data[features.EPISODE_STATUS] == "complete"
