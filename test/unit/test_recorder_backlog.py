"""The recorder's queue is bounded in bytes: when the disk cannot keep up, messages are dropped,
counted per topic, and the status and the episode's health account for every one of them."""

import threading
import time

import pytest

from lam_ros.data import recording
from lam_ros.data.bag_info import read_episode_info
from lam_ros.data.bag_writer import EpisodeWriter, TopicSpec
from lam_ros.data.recording import EpisodeRecorder

TOPICS = [TopicSpec("/image", "std_msgs/msg/String"), TopicSpec("/flag", "std_msgs/msg/Bool")]
BOOL_TRUE = bytes([0, 1, 0, 0, 1])  # CDR little endian, data=true
KIB = 1024


def string_cdr(size: int) -> bytes:
    """A std_msgs/String of ``size`` CDR bytes."""
    text = b"x" * (size - 9)
    return bytes([0, 1, 0, 0]) + (len(text) + 1).to_bytes(4, "little") + text + b"\0"


def accounting(health: dict) -> dict:
    return {t: {k: h[k] for k in ("received", "count", "dropped", "failed")}
            for t, h in health.items()}


@pytest.fixture
def gated_writes(monkeypatch):
    """EpisodeWriter.write waits for the gate: a disk that has stopped keeping up."""
    gate = threading.Event()
    real_write = EpisodeWriter.write

    def write(self, topic, cdr, receive_ns):
        gate.wait(timeout=30)
        if receive_ns == 13:
            raise OSError("disk hiccup")
        real_write(self, topic, cdr, receive_ns)

    monkeypatch.setattr(EpisodeWriter, "write", write)
    yield gate
    gate.set()  # a failed test must not leave the writer thread waiting


def test_queue_never_holds_more_than_its_bound_and_every_message_is_accounted(
        tmp_path, gated_writes):
    recorder = EpisodeRecorder(tmp_path / "task", max_queued_bytes=10 * KIB)
    try:
        recorder.start(TOPICS, {}, now_ns=0)
        most = 0
        for t in range(100):
            recorder.put("/image", string_cdr(KIB), t)
            recorder.put("/flag", BOOL_TRUE, t)
            most = max(most, recorder.status(0)["queued_bytes"])
        status = recorder.status(0)
        # 9 images and 9 flags (9261 bytes) leave no room for a tenth image; flags still fit.
        assert most == 9 * KIB + 100 * len(BOOL_TRUE) <= 10 * KIB
        assert status["dropped"] == {"/image": 91, "/flag": 0}
        assert status["failed"] == {"/image": 0, "/flag": 0}
        gated_writes.set()  # the disk catches up
        episode = recorder.stop(True, "done", now_ns=10**9)
    finally:
        recorder.shutdown()
    assert recorder.status(0)["queued_bytes"] == 0
    health = accounting(read_episode_info(episode).health)
    assert health == {
        "/image": {"received": 100, "count": 9, "dropped": 91, "failed": 0},
        "/flag": {"received": 100, "count": 99, "dropped": 0, "failed": 1},  # t=13 failed
    }


def test_a_slow_disk_loses_messages_but_never_the_count(tmp_path, monkeypatch):
    real_write = EpisodeWriter.write

    def slow_write(self, topic, cdr, receive_ns):
        time.sleep(0.002)
        real_write(self, topic, cdr, receive_ns)

    monkeypatch.setattr(EpisodeWriter, "write", slow_write)
    recorder = EpisodeRecorder(tmp_path / "task", max_queued_bytes=64 * KIB)
    try:
        recorder.start(TOPICS, {}, now_ns=0)
        most = 0
        for t in range(600):
            recorder.put("/image", string_cdr(4 * KIB), t)
            recorder.put("/flag", BOOL_TRUE, t)
            most = max(most, recorder.status(0)["queued_bytes"])
        episode = recorder.stop(False, "slow disk", now_ns=10**9)
    finally:
        recorder.shutdown()
    assert most <= 64 * KIB
    health = accounting(read_episode_info(episode).health)
    assert health["/image"]["dropped"] > 0
    for counts in health.values():
        assert counts["received"] == 600
        assert counts["count"] + counts["dropped"] + counts["failed"] == 600


def test_disk_floor_counts_the_queued_bytes_as_written(tmp_path, gated_writes, monkeypatch):
    monkeypatch.setattr(recording, "free_disk_mb", lambda path: 1000.0)
    recorder = EpisodeRecorder(tmp_path / "task", max_queued_bytes=64 * 2**20)
    try:
        recorder.start(TOPICS, {}, now_ns=0)
        for t in range(30):
            recorder.put("/image", string_cdr(2**20), t)  # 1 MiB frames the disk cannot take
        assert recorder.free_disk_after_queue_mb() == pytest.approx(1000.0 - 30)
        gated_writes.set()
        recorder.stop(False, "", now_ns=1)
        assert recorder.free_disk_after_queue_mb() == pytest.approx(1000.0)
    finally:
        recorder.shutdown()


def test_bound_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="max_queued_bytes"):
        EpisodeRecorder(tmp_path, max_queued_bytes=0)


def test_the_default_bound_is_512_mib(tmp_path, monkeypatch):
    gate = threading.Event()
    monkeypatch.setattr(EpisodeWriter, "write", lambda *args: gate.wait(timeout=30))  # no disk
    recorder = EpisodeRecorder(tmp_path / "task")
    frame = string_cdr(2**20)  # one object queued many times: the bound counts bytes
    try:
        recorder.start(TOPICS, {}, now_ns=0)
        for t in range(600):
            recorder.put("/image", frame, t)
        status = recorder.status(0)
        assert status["queued"] <= 512  # one more may be in the writer's hands
        assert status["queued_bytes"] == 512 * 2**20
        assert status["dropped"]["/image"] == 600 - 512
    finally:
        gate.set()
        recorder.shutdown()


@pytest.mark.parametrize("value", [0.0, -1.0, float("nan"), float("inf")])
def test_recorder_node_config_names_a_bad_queue_bound(value):
    from lam_ros.nodes.recorder_node import RecorderConfig

    assert RecorderConfig().max_queued_mb == 512.0
    with pytest.raises(ValueError, match="max_queued_mb"):
        RecorderConfig(max_queued_mb=value)
