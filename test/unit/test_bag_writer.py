"""Episode bags: written with rosbags, read back by rosbags and by the independent mcap reader."""

import json
import os
import shutil

import pytest
from mcap.reader import make_reader
from rosbags.rosbag2 import Reader

from lam_ros.core import features
from lam_ros.core.stream_health import StreamHealth
from lam_ros.data.bag_info import find_episodes, read_episode_info
from lam_ros.data.bag_repair import repair_episode
from lam_ros.data.bag_writer import (
    SIDECAR,
    TYPESTORE,
    BagError,
    EpisodeWriter,
    TopicSpec,
    cdr_stamp_ns,
)

JOINTS = TopicSpec("/joint_states", "sensor_msgs/msg/JointState", reliable=False)
COMMAND = TopicSpec("/cmd", "std_msgs/msg/Float64MultiArray", reliable=True)
JointState = TYPESTORE.types["sensor_msgs/msg/JointState"]
Header = TYPESTORE.types["std_msgs/msg/Header"]
Time = TYPESTORE.types["builtin_interfaces/msg/Time"]
Float64MultiArray = TYPESTORE.types["std_msgs/msg/Float64MultiArray"]
MultiArrayLayout = TYPESTORE.types["std_msgs/msg/MultiArrayLayout"]


def joint_cdr(stamp_ns: int, position: float) -> bytes:
    import numpy as np

    header = Header(stamp=Time(sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9), frame_id="")
    msg = JointState(header=header, name=["j1"], position=np.array([position]),
                     velocity=np.array([], dtype=float), effort=np.array([], dtype=float))
    return bytes(TYPESTORE.serialize_cdr(msg, "sensor_msgs/msg/JointState"))


def command_cdr(value: float) -> bytes:
    import numpy as np

    msg = Float64MultiArray(layout=MultiArrayLayout(dim=[], data_offset=0),
                            data=np.array([value]))
    return bytes(TYPESTORE.serialize_cdr(msg, "std_msgs/msg/Float64MultiArray"))


def record(episode_dir, n=50, close=True, stamps=None):
    # flush_period_s=0: a chunk per write, as a slow live stream gets from the wall-time flush.
    writer = EpisodeWriter(episode_dir, [JOINTS, COMMAND],
                           {features.EPISODE_TASK: "pick_place", features.EPISODE_SEED: "7"},
                           flush_period_s=0.0).open()
    stamps = stamps or [10**9 + i * 10**7 for i in range(n)]
    for i, stamp in enumerate(stamps):
        receive = 5 * 10**9 + i * 10**7
        writer.write("/joint_states", joint_cdr(stamp, 0.1 * i), receive)
        if i % 5 == 0:
            writer.write("/cmd", command_cdr(float(i)), receive + 1)
    if close:
        writer.close({features.EPISODE_SUCCESS: "true"})
    return writer


def test_round_trip_rosbags_and_mcap(tmp_path):
    episode = tmp_path / "episode_000000"
    record(episode)
    assert not (episode / SIDECAR).exists()
    with Reader(episode) as reader:
        counts = {c.topic: c.msgcount for c in reader.connections}
        assert counts == {"/joint_states": 50, "/cmd": 10}
        positions = []
        for conn, _, raw in reader.messages():
            if conn.topic == "/joint_states":
                msg = TYPESTORE.deserialize_cdr(raw, conn.msgtype)
                positions.append(msg.position[0])
                assert cdr_stamp_ns(raw) == msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
        assert positions == pytest.approx([0.1 * i for i in range(50)])
        qos = reader.connections[0].ext.offered_qos_profiles[0]
        assert qos.reliability.name == "BEST_EFFORT"
    with (episode / "episode_000000.mcap").open("rb") as f:
        by_topic = {}
        for _, channel, message in make_reader(f).iter_messages():
            by_topic.setdefault(channel.topic, []).append(message.log_time)
    assert {t: len(v) for t, v in by_topic.items()} == {"/joint_states": 50, "/cmd": 10}
    assert by_topic["/joint_states"][0] == 5 * 10**9  # receive time is the log time


def test_custom_data_and_health(tmp_path):
    episode = tmp_path / "episode_000001"
    stamps = [10**9 + i * 10**7 for i in range(20)]
    stamps[10], stamps[11] = stamps[11], stamps[10]  # one stamp goes backwards
    record(episode, stamps=stamps)
    info = read_episode_info(episode)
    assert info.success
    assert info.custom_data[features.EPISODE_TASK] == "pick_place"
    assert info.custom_data[features.EPISODE_SEED] == "7"
    assert info.custom_data[features.EPISODE_STATUS] == "complete"
    health = info.health["/joint_states"]
    assert health["count"] == 20
    assert health["out_of_order"] == 1
    assert health["mean_hz"] == pytest.approx(100.0)
    assert health["max_gap_s"] == pytest.approx(0.01)
    assert info.health["/cmd"]["out_of_order"] == 0  # headerless: stamps not judged


def test_stream_health_silence_and_gap():
    health = StreamHealth(["/a", "/b"])
    for t in (0, 10, 40):
        health.add("/a", t * 10**8)
    assert health.topics["/a"].max_gap_ns == 30 * 10**8
    assert health.silent_topics(now_ns=60 * 10**8, silence_s=1.0) == ["/a"]  # /b never spoke
    assert json.loads(health.to_json())["/b"]["count"] == 0


def test_messages_saved_counts_what_a_kill_keeps(tmp_path):
    episode = tmp_path / "episode_000004"
    writer = EpisodeWriter(episode, [JOINTS], {}, flush_period_s=3600.0).open()
    for i in range(5):
        writer.write("/joint_states", joint_cdr(10**9 + i, 0.0), 10**9 + i)
    assert writer.messages_saved == 1  # the first write flushed; then not due for an hour
    writer.flush_period_ns = 0  # the period has passed: the next write closes the chunk
    writer.write("/joint_states", joint_cdr(2 * 10**9, 0.0), 2 * 10**9)
    assert writer.messages_saved == 6
    writer.flush_period_ns = 3600 * 10**9
    writer.write("/joint_states", joint_cdr(3 * 10**9, 0.0), 3 * 10**9)
    assert writer.messages_saved == 6
    assert repair_episode(episode).messages == 6  # the killed recorder's file holds them all


def test_repair_salvages_truncated_mcap(tmp_path):
    episode = tmp_path / "episode_000002"
    writer = record(episode, n=200, close=False)
    writer._writer.storage.bio.flush()  # what the kernel holds after a SIGKILL
    mcap = episode / "episode_000002.mcap"
    os.truncate(mcap, mcap.stat().st_size - 300)  # cut the last chunk in half
    with pytest.raises(BagError, match="bag repair"):
        read_episode_info(episode)
    result = repair_episode(episode)
    assert result.status == "repaired"
    assert 0 < result.messages < 240
    info = read_episode_info(episode)
    assert info.message_count == result.messages
    assert info.custom_data[features.EPISODE_STATUS] == "repaired"
    assert info.custom_data[features.EPISODE_SUCCESS] == "false"
    assert info.custom_data[features.EPISODE_SEED] == "7"  # facts kept from the sidecar
    assert info.topics["/joint_states"][0] == "sensor_msgs/msg/JointState"
    assert sorted(p.name for p in episode.iterdir()) == ["episode_000002.mcap", "metadata.yaml"]
    assert repair_episode(episode).status == "intact"


@pytest.mark.parametrize("content", [b"", b"garbage, not an mcap file" * 10])
def test_quarantine_of_garbage(tmp_path, content):
    episode = tmp_path / "episode_000003"
    episode.mkdir()
    (episode / "episode_000003.mcap").write_bytes(content)
    result = repair_episode(episode)
    assert result.status == "quarantined"
    assert result.episode_dir.name == "episode_000003.quarantined"
    assert "no complete message" in (result.episode_dir / "REASON.txt").read_text()
    with pytest.raises(BagError, match="quarantined"):
        read_episode_info(result.episode_dir)
    assert find_episodes(tmp_path) == []


def test_find_episodes_and_refuse_overwrite(tmp_path):
    record(tmp_path / "episode_000000")
    shutil.copytree(tmp_path / "episode_000000", tmp_path / "episode_000001")
    assert [p.name for p in find_episodes(tmp_path)] == ["episode_000000", "episode_000001"]
    with pytest.raises(BagError, match="exists already"):
        EpisodeWriter(tmp_path / "episode_000000", [JOINTS], {}).open()
    with pytest.raises(BagError, match="unknown message type"):
        TopicSpec("/x", "my_msgs/msg/Thing")


def test_repair_leaves_an_episode_a_live_recorder_is_writing(tmp_path):
    import subprocess
    import sys

    episode = tmp_path / "episode_000004"
    record(episode, n=5, close=False)
    sidecar = json.loads((episode / SIDECAR).read_text())
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]) as other:
        sidecar["writer_pid"] = other.pid
        (episode / SIDECAR).write_text(json.dumps(sidecar))
        assert repair_episode(episode).status == "recording"
        other.kill()
    assert repair_episode(episode).status == "repaired"


@pytest.mark.parametrize("cut_bytes", [1, 7, 40, 300, 2000, 6000])
def test_repair_never_raises_wherever_a_kill_cut_the_file(tmp_path, cut_bytes):
    episode = tmp_path / "episode_000003"
    writer = record(episode, n=100, close=False)
    writer._writer.storage.bio.flush()
    mcap = episode / "episode_000003.mcap"
    os.truncate(mcap, max(0, mcap.stat().st_size - cut_bytes))
    result = repair_episode(episode)
    assert result.status in ("repaired", "quarantined"), result
    if result.status == "repaired":
        assert read_episode_info(episode).message_count == result.messages > 0
    else:
        assert result.reason
