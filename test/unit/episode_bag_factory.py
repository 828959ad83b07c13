"""Writes small, real rosbag2 (MCAP) episodes with rosbags, for the data and training tests.

Messages are real sensor_msgs / std_msgs types serialized to CDR by the rosbags typestore, the
same bytes the recorder stores. The scene is simple but learnable: a red square whose position
is the command the "expert" sends.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from lam_ros.core import features
from lam_ros.core.commands import MESSAGE_TYPES
from lam_ros.core.joint_merge import split_by_topic
from lam_ros.core.profile import CommandGroup, RobotProfile, load_profile

TYPESTORE = get_typestore(Stores.ROS2_KILTED)
T = TYPESTORE.types
NS = 1_000_000_000
TINY_PROFILE_FILE = "tiny_profile.yaml"  # where tiny_profile writes its YAML


def tiny_profile(tmp_path: Path, size: int = 32, base: str = "panda_sim") -> RobotProfile:
    """A sim profile with a small camera, written as a profile YAML (tests stay fast)."""
    from lam_ros.core.paths import robots_dir

    data = yaml.safe_load((robots_dir() / f"{base}.yaml").read_text())
    data["cameras"][0].update(width=size, height=size)
    data["name"] = f"{base}_tiny"
    path = tmp_path / TINY_PROFILE_FILE
    path.write_text(yaml.safe_dump(data))
    return load_profile(path)


def _header(stamp_ns: int):
    return T["std_msgs/msg/Header"](
        stamp=T["builtin_interfaces/msg/Time"](sec=stamp_ns // NS, nanosec=stamp_ns % NS),
        frame_id="")


def joint_state(stamp_ns: int, names: list[str], positions: np.ndarray):
    empty = np.zeros(0, np.float64)
    return T["sensor_msgs/msg/JointState"](
        header=_header(stamp_ns), name=list(names),
        position=np.asarray(positions, np.float64), velocity=empty, effort=empty)


def image(stamp_ns: int, rgb: np.ndarray, encoding: str = "rgb8"):
    pixels = rgb[..., ::-1] if encoding == "bgr8" else rgb
    height, width, _ = rgb.shape
    return T["sensor_msgs/msg/Image"](
        header=_header(stamp_ns), height=height, width=width, encoding=encoding,
        is_bigendian=0, step=width * 3, data=np.ascontiguousarray(pixels).reshape(-1))


def command(targets: np.ndarray):
    layout = T["std_msgs/msg/MultiArrayLayout"](dim=[], data_offset=0)
    return T["std_msgs/msg/Float64MultiArray"](layout=layout,
                                                data=np.asarray(targets, np.float64))


def group_command(group: CommandGroup, stamp_ns: int, targets: np.ndarray):
    """The group's share of the targets in its interface (trajectories stamped ``stamp_ns``)."""
    if group.interface == "float64":
        return T["std_msgs/msg/Float64"](data=float(targets[0]))
    if group.interface == "float64_multi_array":
        return command(targets)
    period = T["builtin_interfaces/msg/Duration"](sec=0, nanosec=100_000_000)
    point = T["trajectory_msgs/msg/JointTrajectoryPoint"](
        positions=np.asarray(targets, np.float64), velocities=np.zeros(0),
        accelerations=np.zeros(0), effort=np.zeros(0), time_from_start=period)
    return T["trajectory_msgs/msg/JointTrajectory"](header=_header(stamp_ns),
                                                    joint_names=list(group.joints),
                                                    points=[point])


def scene(targets: np.ndarray, size: int) -> np.ndarray:
    """A red square placed by the first two joint targets: the image predicts the action."""
    frame = np.full((size, size, 3), 40, np.uint8)
    x = int(np.clip((targets[0] + 1) / 2 * (size - 6), 0, size - 6))
    y = int(np.clip((targets[1] + 1) / 2 * (size - 6), 0, size - 6))
    frame[y:y + 6, x:x + 6] = (220, 30, 30)
    return frame


def trajectory(profile: RobotProfile, ticks: int, seed: int) -> np.ndarray:
    """Smooth joint targets [ticks, n_joints] inside the joint limits."""
    rng = np.random.default_rng(seed)
    phase = rng.uniform(0, 2 * np.pi, profile.n_joints)
    t = np.arange(ticks)[:, None] / ticks
    home = np.array(profile.home)
    lower = np.array([j.lower for j in profile.joints])
    upper = np.array([j.upper for j in profile.joints])
    return np.clip(home + 0.3 * np.sin(2 * np.pi * t + phase), lower, upper)


def write_episode(episode_dir: Path, profile: RobotProfile, *, ticks: int = 40, seed: int = 0,
                  success: bool = True, joint_order: list[str] | None = None,
                  image_encoding: str = "rgb8", joint_hz_multiple: int = 2,
                  nan_joint_ticks=(), nan_command_ticks=(),
                  sources: list[str] | None = None) -> np.ndarray:
    """One episode at the profile's control rate; returns the commanded targets [ticks, J].

    Joint states come ``joint_hz_multiple`` times per tick (the state lags the command by one
    tick, as a robot does), images once per tick, commands once per tick (receive time = tick).
    ``joint_order`` lists joint_states names in another order (extra joints allowed).
    At ``nan_joint_ticks`` / ``nan_command_ticks`` one value of the state / command is not finite.
    ``sources`` (one per tick, "policy" or "teleop") go out on /command_source after each command,
    as CommandPublisher sends them.
    """
    period = int(NS / profile.control_hz)
    camera = profile.cameras[0]
    targets = trajectory(profile, ticks, seed)
    names = joint_order or list(profile.joint_names)
    split = split_by_topic(profile, names)  # a gripper may report on a topic of its own
    start = 5 * NS
    episode_dir.parent.mkdir(parents=True, exist_ok=True)
    with Writer(episode_dir, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        joints = {topic: writer.add_connection(topic, "sensor_msgs/msg/JointState",
                                               typestore=TYPESTORE) for topic in split}
        img = writer.add_connection(camera.topic, "sensor_msgs/msg/Image", typestore=TYPESTORE)
        groups = [(group, profile.slots(group),
                   writer.add_connection(group.topic, MESSAGE_TYPES[group.interface],
                                         typestore=TYPESTORE))
                  for group in profile.command_groups]
        source = (writer.add_connection(features.COMMAND_SOURCE_TOPIC, "std_msgs/msg/String",
                                        typestore=TYPESTORE) if sources else None)
        for k in range(ticks):
            stamp = start + k * period
            state = targets[max(k - 1, 0)].copy()
            if k in nan_joint_ticks:
                state[2] = np.nan
            target = targets[k].copy()
            if k in nan_command_ticks:
                target[0] = np.inf
            by_name = dict(zip(profile.joint_names, state, strict=True))
            for sub in range(joint_hz_multiple):
                js_stamp = stamp + sub * period // joint_hz_multiple
                values = np.array([by_name.get(n, 0.0) for n in names])
                for topic, index in reversed(split.items()):  # the base topic last, as the sim
                    _write(writer, joints[topic], js_stamp + 1_000_000,
                           joint_state(js_stamp, [names[i] for i in index], values[index]))
            _write(writer, img, stamp + 2_000_000,
                   image(stamp, scene(targets[k], camera.width), image_encoding))
            for group, slots, connection in groups:
                _write(writer, connection, stamp, group_command(group, stamp, target[slots]))
            if source is not None:
                _write(writer, source, stamp + 100_000, T["std_msgs/msg/String"](data=sources[k]))
        writer.set_custom_data(features.EPISODE_SUCCESS, "true" if success else "false")
        writer.set_custom_data(features.EPISODE_TASK, "synthetic")
        writer.set_custom_data(features.EPISODE_PROFILE, profile.name)
        writer.set_custom_data(features.EPISODE_PROFILE_HASH, profile.fingerprint())
    return targets


def _write(writer: Writer, connection, log_ns: int, msg) -> None:
    writer.write(connection, log_ns, TYPESTORE.serialize_cdr(msg, connection.msgtype))


def write_dataset(root: Path, profile: RobotProfile, episodes: int, ticks: int = 40,
                  failed: int = 0) -> list[Path]:
    """``root/synthetic/episode_NNNNNN`` dirs: ``episodes`` successful then ``failed`` failed."""
    dirs = []
    for i in range(episodes + failed):
        episode_dir = root / "synthetic" / f"episode_{i:06d}"
        write_episode(episode_dir, profile, ticks=ticks, seed=i, success=i < episodes)
        dirs.append(episode_dir)
    return dirs


def tiny_training(root: Path, **overrides):
    """A tiny profile, 3 short episodes under ``root/data`` and a TrainConfig of a few steps on
    them (``out_dir`` to be set), for the tests that train every family: (profile, config)."""
    from lam_ros.policy.train_config import TrainConfig

    profile = tiny_profile(root)
    write_dataset(root / "data", profile, episodes=3, ticks=20)
    config = TrainConfig(data_dir=str(root / "data"), out_dir="",
                         profile=str(root / TINY_PROFILE_FILE), steps=4, batch_size=8,
                         eval_every=4, checkpoint_every=4, cache_dir=str(root / "cache"),
                         val_fraction=0.3, parity_frames=4, progress=False, **overrides)
    return profile, config
