"""Bags recorded by another tool (as `ros2 bag record` writes them) convert and train.

The bag is written with rosbags alone: sqlite3 storage, no lam_ros facts, one long session of
several demonstrations with idle time between them, a compressed camera, arm commands as
JointTrajectory (joints named in a shuffled order, a second point that must be ignored), gripper
commands as Float64MultiArray, and joint states with extra joints in a new order every message.
Each tick ``k`` of a demonstration commands ``targets[k]``; the joint state at that tick reports
``targets[k - 1]`` (a robot one tick behind its command).
"""

import contextlib
import io
import warnings
from dataclasses import replace

import cv2
import numpy as np
import pytest
import yaml
from episode_bag_factory import NS, TYPESTORE, T, _header, joint_state, scene, trajectory
from rosbags.rosbag2 import StoragePlugin, Writer

from lam_ros.cli import main as lam_ros_main
from lam_ros.core.paths import robots_dir
from lam_ros.core.profile import load_profile
from lam_ros.data.cache import ConversionWarning, convert_dataset
from lam_ros.data.episode_bag import EpisodeBagError, read_bag
from lam_ros.data.episode_split import parse_split

ARM_TOPIC = "/arm_controller/joint_trajectory"
GRIPPER_TOPIC = "/gripper_controller/commands"
CAMERA_TOPIC = "/front/image_raw/compressed"
EXTRA_JOINTS = ["panda_finger_joint2", "base_yaw_joint"]  # reported, never commanded
TICKS = (12, 15, 10)  # ticks of each demonstration
IDLE_TICKS = 15  # 1.5 s between demonstrations: joint states and images, no commands
START_NS = 1_700_000_000 * NS  # a wall-clock recording


@pytest.fixture
def profile(tmp_path):
    """The Panda as a real cell might run it: a trajectory controller for the arm, a forward
    controller for the hand, a compressed 32x32 camera."""
    data = yaml.safe_load((robots_dir() / "panda_sim.yaml").read_text())
    arm, gripper = data["command_groups"]
    arm.update(interface="joint_trajectory", topic=ARM_TOPIC)
    gripper.update(topic=GRIPPER_TOPIC)
    data["cameras"] = [{"name": "front", "topic": CAMERA_TOPIC, "encoding": "rgb8",
                        "width": 32, "height": 32, "compressed": True}]
    data["name"] = "panda_cell"
    path = tmp_path / "panda_cell.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_profile(path)


def compressed_image(stamp_ns, rgb, corrupt=False):
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    data = np.frombuffer(jpeg.tobytes()[:40] if corrupt else jpeg.tobytes(), np.uint8)
    return T["sensor_msgs/msg/CompressedImage"](header=_header(stamp_ns), format="jpeg",
                                                data=data)


def arm_trajectory(stamp_ns, names, positions):
    """Two points; conversion takes the first (the target for now)."""
    def point(values, seconds):
        return T["trajectory_msgs/msg/JointTrajectoryPoint"](
            positions=np.asarray(values, np.float64), velocities=np.zeros(0),
            accelerations=np.zeros(0), effort=np.zeros(0),
            time_from_start=T["builtin_interfaces/msg/Duration"](sec=seconds, nanosec=0))
    return T["trajectory_msgs/msg/JointTrajectory"](
        header=_header(stamp_ns), joint_names=list(names),
        points=[point(positions, 0), point(np.asarray(positions) + 0.5, 1)])


def float64_array(values):
    layout = T["std_msgs/msg/MultiArrayLayout"](dim=[], data_offset=0)
    return T["std_msgs/msg/Float64MultiArray"](layout=layout, data=np.asarray(values, np.float64))


def write_session(bag_dir, profile, storage=StoragePlugin.SQLITE3, corrupt_image_in=None,
                  no_joint_states_in=None):
    """One bag of ``len(TICKS)`` demonstrations; returns each one's targets [ticks, J].

    Markers: /episode_active (Bool) true from 50 ms before a demonstration's first tick to 50 ms
    after its last, /episode_name (String) "demo_<i>" then "". ``corrupt_image_in`` puts one
    undecodable jpeg in that demonstration; ``no_joint_states_in`` silences /joint_states from
    the tick before that one."""
    period = int(NS / profile.control_hz)
    rng = np.random.default_rng(0)
    arm, gripper = profile.command_groups
    demos = [trajectory(profile, ticks, seed) for seed, ticks in enumerate(TICKS)]
    with Writer(bag_dir, version=9, storage_plugin=storage) as writer:
        def connection(topic, msgtype):
            return writer.add_connection(topic, msgtype, typestore=TYPESTORE)
        topics = {"joints": connection("/joint_states", "sensor_msgs/msg/JointState"),
                  "image": connection(CAMERA_TOPIC, "sensor_msgs/msg/CompressedImage"),
                  "arm": connection(ARM_TOPIC, "trajectory_msgs/msg/JointTrajectory"),
                  "gripper": connection(GRIPPER_TOPIC, "std_msgs/msg/Float64MultiArray"),
                  "active": connection("/episode_active", "std_msgs/msg/Bool"),
                  "name": connection("/episode_name", "std_msgs/msg/String")}

        def write(key, log_ns, msg):
            conn = topics[key]
            writer.write(conn, log_ns, TYPESTORE.serialize_cdr(msg, conn.msgtype))

        state, tick = np.array(profile.home), 0
        for index, targets in enumerate(demos):
            for k in range(-IDLE_TICKS, len(targets)):
                stamp = START_NS + tick * period
                tick += 1
                if k == 0:
                    write("active", stamp - period // 2, T["std_msgs/msg/Bool"](data=True))
                    write("name", stamp - period // 2,
                          T["std_msgs/msg/String"](data=f"demo_{index}"))
                if k >= 0:  # the demonstration's commands, received at the tick
                    arm_names = list(rng.permutation(arm.joints))
                    by_name = dict(zip(profile.joint_names, targets[k], strict=True))
                    write("arm", stamp, arm_trajectory(stamp, arm_names,
                                                       [by_name[n] for n in arm_names]))
                    write("gripper", stamp, float64_array(targets[k][profile.slots(gripper)]))
                if index != no_joint_states_in or k < -1:
                    for sub in (0, period // 2):  # joint states at twice the control rate
                        names = list(rng.permutation([*profile.joint_names, *EXTRA_JOINTS]))
                        by_name = {**dict(zip(profile.joint_names, state, strict=True)),
                                   "panda_finger_joint2": state[-1], "base_yaw_joint": 0.3}
                        write("joints", stamp + sub + 1_000_000, joint_state(
                            stamp + sub, names, np.array([by_name[n] for n in names])))
                corrupt = index == corrupt_image_in and k == 3
                write("image", stamp + 2_000_000,
                      compressed_image(stamp, scene(state, 32), corrupt=corrupt))
                if k >= 0:
                    state = targets[k]
                if k == len(targets) - 1:
                    write("active", stamp + period // 2, T["std_msgs/msg/Bool"](data=False))
                    write("name", stamp + period // 2, T["std_msgs/msg/String"](data=""))
    return demos


def convert(data_dir, profile, cache_dir, split):
    return convert_dataset(data_dir, profile, cache_dir=cache_dir, progress=False,
                           split=parse_split(split))


@pytest.mark.parametrize("storage", [StoragePlugin.SQLITE3, StoragePlugin.MCAP])
def test_session_split_by_an_episode_topic_converts_each_demonstration(tmp_path, profile,
                                                                       storage):
    bag = tmp_path / "data" / "session"
    demos = write_session(bag, profile, storage)
    with pytest.warns(ConversionWarning) as caught:
        result = convert(tmp_path / "data", profile, tmp_path / "cache",
                         "topic:/episode_active")
    notes = [str(w.message) for w in caught if "counted as a demonstration" in str(w.message)]
    assert len(notes) == 1 and "not checked against the profile" in notes[0]  # once per bag
    assert result.skipped == {} and result.left_out == {}
    assert result.episode_dirs == [bag] * 3
    for index, (episode, targets) in enumerate(zip(result.episodes, demos, strict=True)):
        assert episode.n_kept == len(targets) == len(episode.stamps_ns)
        np.testing.assert_allclose(episode.actions, targets, atol=1e-6)  # first point, by name
        np.testing.assert_allclose(episode.joint_positions[1:], targets[:-1], atol=1e-6)
        assert episode.images["front"].shape == (len(targets), 32, 32, 3)
        assert episode.report["episode"].startswith(f"{bag}[{index}] (")
        assert episode.report["segment"]["index"] == index
        assert episode.report["notes"][0].startswith("no outcome recorded")


def test_string_topic_gap_and_times_rules_find_the_same_demonstrations(tmp_path, profile):
    bag = tmp_path / "data" / "session"
    demos = write_session(bag, profile)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConversionWarning)  # the facts notes
        by_name = convert(tmp_path / "data", profile, tmp_path / "cache", "topic:/episode_name")
        by_gap = convert(tmp_path / "data", profile, tmp_path / "cache", f"gap:{ARM_TOPIC}:1.0")
        times = tmp_path / "times.yaml"
        period_s = 1 / profile.control_hz
        starts = np.cumsum([0, *(IDLE_TICKS + n for n in TICKS[:-1])]) + IDLE_TICKS
        times.write_text(yaml.safe_dump({"session": [
            [float((s - 0.3) * period_s), float((s + n - 1 + 0.3) * period_s)]
            for s, n in zip(starts, TICKS, strict=True)]}))
        by_times = convert(tmp_path / "data", profile, tmp_path / "cache", f"times:{times}")
    assert [e.report["segment"]["label"] for e in by_name.episodes] == ["demo_0", "demo_1",
                                                                        "demo_2"]
    for episodes in (by_name.episodes, by_gap.episodes, by_times.episodes):
        assert len(episodes) == 3
        for episode, targets in zip(episodes, demos, strict=True):
            # the gap rule's window ends at the last command, before that tick's image arrives
            assert len(targets) - 1 <= episode.n_kept <= len(targets)
            np.testing.assert_allclose(episode.actions, targets[:episode.n_kept], atol=1e-6)


def test_cache_is_keyed_by_the_split_rule(tmp_path, profile):
    write_session(tmp_path / "data" / "session", profile)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConversionWarning)
        first = convert(tmp_path / "data", profile, tmp_path / "cache", "topic:/episode_active")
        again = convert(tmp_path / "data", profile, tmp_path / "cache", "topic:/episode_active")
        other = convert(tmp_path / "data", profile, tmp_path / "cache", f"gap:{ARM_TOPIC}:1.0")
        whole = convert(tmp_path / "data", profile, tmp_path / "cache", "")
    assert (first.converted, again.converted, other.converted) == (3, 0, 3)
    for a, b in zip(first.episodes, again.episodes, strict=True):
        np.testing.assert_array_equal(a.actions, b.actions)
        assert a.report == b.report
    assert len(whole.episodes) == 1 and whole.converted == 1  # the session as one episode


def test_bad_episodes_are_named_with_their_reason_and_the_others_convert(tmp_path, profile):
    bag = tmp_path / "data" / "session"
    demos = write_session(bag, profile, corrupt_image_in=0, no_joint_states_in=2)
    with pytest.warns(ConversionWarning, match=r"skipped episode: .*session\[2\]"):
        result = convert(tmp_path / "data", profile, tmp_path / "cache",
                         "topic:/episode_active")
    assert set(result.skipped) == {f"{bag}[0]", f"{bag}[2]"}
    # the bag starts with its first message (1 ms after the first tick); the demonstration's
    # marker turns true 50 ms before its first tick, 1.5 s in
    assert result.skipped[f"{bag}[0]"].startswith(f"{bag}[0] (1.4-2.6 s): 1 message(s) could "
                                                  "not be used, the first received at 1.801 s")
    assert (f"{CAMERA_TOPIC}: camera front: undecodable compressed image"
            in result.skipped[f"{bag}[0]"])
    assert result.skipped[f"{bag}[2]"] == (f"{bag}[2] (7.1-8.1 s): no usable messages on "
                                           "/joint_states")
    assert [e.report["segment"]["index"] for e in result.episodes] == [1]
    np.testing.assert_allclose(result.episodes[0].actions, demos[1], atol=1e-6)
    with pytest.warns(ConversionWarning, match=r"session\[0\] .*undecodable"):  # from the cache
        again = convert(tmp_path / "data", profile, tmp_path / "cache", "topic:/episode_active")
    assert again.converted == 0 and again.skipped == result.skipped


def test_a_rule_that_finds_nothing_in_a_bag_skips_that_bag_by_name(tmp_path, profile):
    write_session(tmp_path / "data" / "session", profile)
    with pytest.warns(ConversionWarning, match="session: no messages on /absent to split"), \
            pytest.raises(EpisodeBagError, match="no usable episodes"):
        convert(tmp_path / "data", profile, tmp_path / "cache", "gap:/absent:1.0")


def test_a_topic_of_another_type_than_the_profile_says_is_refused_naming_both(tmp_path,
                                                                             profile):
    write_session(tmp_path / "session", profile)
    arm, gripper = profile.command_groups
    one_value = replace(profile, command_groups=(arm, replace(gripper, interface="float64")))
    with pytest.raises(EpisodeBagError, match=f"{GRIPPER_TOPIC} holds std_msgs/msg/Float64Multi"
                                              "Array; the profile reads std_msgs/msg/Float64"):
        read_bag(tmp_path / "session", one_value)


def test_a_short_training_run_on_a_split_foreign_bag(tmp_path, profile):
    write_session(tmp_path / "data" / "session", profile)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = lam_ros_main(["train", "--data", str(tmp_path / "data"),
                             "--out", str(tmp_path / "model"),
                             "--profile", str(tmp_path / "panda_cell.yaml"),
                             "--split", "topic:/episode_active", "--steps", "3",
                             "--batch-size", "8", "--val-fraction", "0.34",
                             "--cache-dir", str(tmp_path / "cache"), "--no-progress"])
    assert code == 0, out.getvalue()
    assert "episodes: 3" in out.getvalue()
    assert (tmp_path / "model" / "policy.onnx").stat().st_size > 1000
