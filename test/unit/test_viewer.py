"""What `lam-ros view` gives Foxglove (lam_ros/data/viewer.py): topics chosen from the profile,
messages mapped to channels, and recorded bags written as MCAP files, read back here with the
independent `mcap` reader."""

import json
import subprocess
import sys

import numpy as np
from episode_bag_factory import NS, T, joint_state, write_episode
from mcap.reader import make_reader

from lam_ros.core.commands import MESSAGE_TYPES, profile_topics
from lam_ros.data.viewer import (
    EPISODE_METADATA,
    joints_by_name,
    log_time_ns,
    view_topics,
    write_bag_views,
)


def test_the_view_shows_the_profiles_topics_and_the_graphs(profile):
    topics = view_topics(profile)
    for camera in profile.cameras:
        assert topics[camera.topic] == "sensor_msgs/msg/Image"
    for topic in profile.joint_state_topics:
        assert topics[topic] == "sensor_msgs/msg/JointState"
    for group in profile.command_groups:
        assert topics[group.topic] == MESSAGE_TYPES[group.interface]
    assert topics["/diagnostics"] == "diagnostic_msgs/msg/DiagnosticArray"
    assert {"/joy", "/command_source"} <= set(topics)


def test_joints_by_name_and_log_time():
    state = joint_state(3 * NS + 7, ["a", "b", "c"], np.array([0.5, np.nan, -1.0]))
    assert joints_by_name(state, "sensor_msgs/msg/JointState", None) == {"a": 0.5, "c": -1.0}
    assert log_time_ns(state, receive_ns=99) == 3 * NS + 7
    assert log_time_ns(T["std_msgs/msg/Float64"](data=1.0), receive_ns=99) == 99
    state.header.stamp.sec, state.header.stamp.nanosec = 0, 0  # no stamp: the receive time
    assert log_time_ns(state, receive_ns=99) == 99


def read_view(path):
    """(topic -> channel, schema) and (topic -> [(log time, data)]) of a view file, metadata."""
    with path.open("rb") as f:
        reader = make_reader(f)
        summary = reader.get_summary()
        channels = {c.topic: (c, summary.schemas[c.schema_id]) for c in summary.channels.values()}
        messages = {}
        for _, channel, message in reader.iter_messages(log_time_order=False):
            messages.setdefault(channel.topic, []).append((message.log_time, message.data))
        metadata = {m.name: m.metadata for m in reader.iter_metadata()}
    return channels, messages, metadata


def test_a_bag_becomes_an_mcap_view_with_joints_by_name(tmp_path, profile):
    targets = write_episode(tmp_path / "task" / "episode_000000", profile, ticks=5)
    (view,) = write_bag_views(tmp_path / "task", tmp_path / "view", profile)
    assert view.path == tmp_path / "view" / "task" / "episode_000000.mcap"
    channels, messages, metadata = read_view(view.path)

    recorded = profile_topics(profile)
    joint_topics = [*profile.joint_state_topics, *(g.topic for g in profile.command_groups)]
    assert set(channels) == {*recorded, *(f"{t}/by_name" for t in joint_topics)}
    for topic, msgtype in recorded.items():
        channel, schema = channels[topic]
        assert (channel.message_encoding, schema.name, schema.encoding) == (
            "cdr", msgtype, "ros2msg")
    for topic in joint_topics:
        assert len(messages[f"{topic}/by_name"]) == len(messages[topic])
    assert view.messages == sum(len(messages[t]) for t in recorded)
    assert metadata[EPISODE_METADATA]["lam_ros.task"] == "synthetic"

    period = int(NS / profile.control_hz)
    first_tick = 5 * NS  # the factory's first stamp; receive times lag stamps by 1-2 ms
    camera = profile.cameras[0].topic
    assert [t for t, _ in messages[camera]] == [first_tick + k * period for k in range(5)]
    for group in profile.command_groups:  # headerless or stamped: the tick either way
        log_ns, data = messages[f"{group.topic}/by_name"][1]
        assert log_ns == first_tick + period
        assert json.loads(data) == dict(zip(group.joints, targets[1][profile.slots(group)],
                                            strict=True))
    log_ns, data = messages["/joint_states/by_name"][-1]
    assert log_ns == first_tick + 4 * period + period // 2  # two states a tick, header stamps
    by_name = dict(zip(profile.joint_names, targets[3], strict=True))  # a tick behind
    assert json.loads(data).items() <= by_name.items()


def test_view_bag_command_writes_one_file_per_episode_for_the_recorded_robot(tmp_path,
                                                                            profile):
    for i in range(2):
        write_episode(tmp_path / "task" / f"episode_{i:06d}", profile, ticks=3, seed=i)
    done = subprocess.run([sys.executable, "-m", "lam_ros.cli", "view", "--bag",
                           str(tmp_path / "task"), "--out", str(tmp_path / "view")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "view" / "task").iterdir()) == [
        "episode_000000.mcap", "episode_000001.mcap"]
    assert "Foxglove" in done.stdout
