"""Reads one rosbag2 directory (MCAP or sqlite3, from lam_ros's recorder or from any other
tool) into per-topic numpy streams.

Topics and joint order come from the robot profile; joints are picked by name, so a bag that
lists them in another order, or with extra joints, converts correctly. Cameras may be raw or
compressed. A truncated MCAP file (recorder killed) is salvaged up to the last whole record, with
a warning; it is never read as silently empty. Joint states and commands holding NaN/Inf are
dropped, with one warning line per episode saying how many (a dropped command leaves the one
before it in force). A message that cannot be used (a missing joint, an undecodable image) is a
fault kept with its receive time: it fails the episode it falls in (``read_episode``: the whole
bag), so the other episodes of a split bag still convert. Where the bag holds /command_source,
its samples say which commands the policy sent (a correction episode) and which a person did.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePath

import numpy as np
from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_typestore

from lam_ros.core import commands, features
from lam_ros.core.joint_merge import JointStateMerge, StaleSourceError
from lam_ros.core.joints import reorder_by_name
from lam_ros.core.profile import CameraSpec, CommandGroup, RobotProfile
from lam_ros.core.safety import SafetyConfig
from lam_ros.data.bag_info import recorded_success
from lam_ros.data.bag_metadata import METADATA, BagError, read_metadata
from lam_ros.data.bag_repair import QUARANTINE_SUFFIX, salvage_mcap
from lam_ros.data.episode_split import MARKER_TYPES, TopicSamples
from lam_ros.data.images import compressed_to_rgb, raw_to_rgb, to_policy_size
from lam_ros.data.sync import NS, Stream

TYPESTORE = get_typestore(Stores.ROS2_KILTED)
COMPRESSED_IMAGE = "sensor_msgs/msg/CompressedImage"
STRING = "std_msgs/msg/String"
JOINT_STATE = "sensor_msgs/msg/JointState"
IMAGE_TYPES = ("sensor_msgs/msg/Image", COMPRESSED_IMAGE)
# Receive and header clocks further apart than this are different clocks (wall vs sim time).
CLOCK_MISMATCH_NS = 1_000_000_000


class EpisodeBagError(ValueError):
    """An episode bag cannot be converted; the message names the bag and what was wrong."""


@dataclass
class RawEpisode:
    episode_dir: Path
    facts: dict[str, str]  # metadata.yaml custom_data
    span_ns: tuple[int, int]  # first and last receive time in the bag (metadata.yaml)
    joint_positions: Stream  # [n, n_joints] in profile order
    commands: Stream  # [n, n_joints] absolute joint targets in profile order
    images: dict[str, Stream]  # camera name -> uint8 [n, H, W, 3] RGB at the profile size
    warnings: list[str] = field(default_factory=list)
    faults: list[tuple[int, str]] = field(default_factory=list)  # (receive ns, why unusable)
    split_samples: TopicSamples | None = None  # the split rule's topic, when it reads one
    # /command_source by receive time: 1.0 where the policy sent the commands, 0.0 a person
    policy_sources: Stream | None = None

    @property
    def success(self) -> bool:
        return recorded_success(self.facts)


def faults_reason(faults: list[tuple[int, str]], bag_start_ns: int) -> str:
    """One line: how many messages were unusable, and the first one's time and reason."""
    log_ns, why = faults[0]
    return (f"{len(faults)} message(s) could not be used, the first received at "
            f"{(log_ns - bag_start_ns) / NS:.3f} s: {why}")


def _bag_dirs(data_dir: str | Path, pattern: str) -> list[Path]:
    """Folders under ``data_dir`` holding ``pattern``, except quarantined episodes. Linked
    folders are followed (a folder of links to chosen episodes is a data set), each once."""
    root = Path(data_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"data directory {root} does not exist")
    found, seen = set(), set()
    for folder, subfolders, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:  # a link back up the tree
            subfolders.clear()
            continue
        seen.add(real)
        if any(part.endswith(QUARANTINE_SUFFIX) for part in Path(folder).parts):
            continue
        if fnmatch.filter(files, pattern):
            found.add(Path(folder))
    return sorted(found)


def find_episode_dirs(data_dir: str | Path) -> list[Path]:
    """Every rosbag2 directory with an intact metadata.yaml under ``data_dir``, sorted."""
    return [d for d in _bag_dirs(data_dir, METADATA) if _metadata_problem(d) is None]


def find_unusable_dirs(data_dir: str | Path) -> dict[Path, str]:
    """Bag directories whose metadata.yaml is missing or damaged, with why."""
    dirs = sorted({*_bag_dirs(data_dir, "*.mcap"), *_bag_dirs(data_dir, "*.db3"),
                   *_bag_dirs(data_dir, METADATA)})
    return {d: why for d in dirs if (why := _metadata_problem(d))}


def _metadata_problem(episode_dir: Path) -> str | None:
    if not (episode_dir / METADATA).exists():
        if any(episode_dir.glob("*.db3")):
            return (f"{episode_dir}: no {METADATA} (a sqlite3 bag: `ros2 bag reindex "
                    f"{episode_dir}` rebuilds it)")
        return (f"{episode_dir}: no {METADATA} (still recording, or the recorder was killed: "
                "run `lam-ros bag repair`)")
    try:
        read_metadata(episode_dir)
    except BagError as exc:
        return f"{exc}; run `lam-ros bag repair`"
    return None


def storage_files(episode_dir: Path) -> list[Path]:
    """The storage files metadata.yaml lists (any storage plugin, compressed or not)."""
    listed = read_metadata(episode_dir)["relative_file_paths"]
    return [episode_dir / PurePath(str(name)).name for name in listed]


def bag_span_ns(info: dict) -> tuple[int, int]:
    """First and last receive time of a bag, from its metadata.yaml."""
    start = int(info["starting_time"]["nanoseconds_since_epoch"])
    return start, start + int(info["duration"]["nanoseconds"])


def iter_raw_messages(episode_dir: Path, topics: set[str],
                      warnings: list[str]) -> Iterator[tuple[str, str, int, bytes]]:
    """(topic, msgtype, log_time_ns, cdr) for the wanted topics; salvages a truncated MCAP."""
    try:
        with Reader(episode_dir) as reader:
            wanted = [c for c in reader.connections if c.topic in topics]
            for conn, log_ns, raw in reader.messages(connections=wanted):
                yield conn.topic, conn.msgtype, log_ns, raw
        return
    except Exception as exc:  # rosbags raises several types for a damaged file
        warnings.append(f"{episode_dir}: bag unreadable as a whole ({exc}); "
                        "salvaging the messages written before the damage")
    yield from _salvage_mcap(episode_dir, topics, warnings)


def _salvage_mcap(episode_dir: Path, topics: set[str],
                  warnings: list[str]) -> Iterator[tuple[str, str, int, bytes]]:
    for path in sorted(episode_dir.glob("*.mcap")):
        salvage = salvage_mcap(path)
        if salvage.stopped_by != "end of file":
            warnings.append(f"{path}: truncated or corrupt after the last whole chunk "
                            f"({salvage.stopped_by}); {len(salvage.messages)} messages kept")
        for log_ns, channel_id, cdr in salvage.messages:
            topic, msgtype = salvage.topics[channel_id]
            if topic in topics:
                yield topic, msgtype, log_ns, cdr


def _stamp_ns(header) -> int:
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


def decode_image(msg, msgtype: str, camera: CameraSpec) -> np.ndarray:
    """uint8 [H, W, 3] RGB resized to the size the policy sees."""
    try:
        if msgtype == COMPRESSED_IMAGE:
            rgb = compressed_to_rgb(msg.data)
        else:
            rgb = raw_to_rgb(msg.data, msg.height, msg.width, msg.step, msg.encoding)
    except ValueError as exc:
        raise EpisodeBagError(f"camera {camera.name}: {exc}") from None
    return to_policy_size(rgb, camera.width, camera.height)


def decode_command(group: CommandGroup, msg, log_ns: int) -> tuple[int, np.ndarray]:
    """(stamp_ns, targets in the group's joint order); headerless commands use the receive
    time, and so does a trajectory stamped zero ("start now" to joint_trajectory_controller)."""
    command = commands.decode(group, msg)
    if not command.points:
        raise EpisodeBagError(f"{group.topic}: JointTrajectory command without points")
    targets = reorder_by_name(command.joint_names, command.points[0][1], group.joints)
    return (command.stamp_ns or log_ns), targets


def _non_finite_reason(non_finite: dict[str, list[int]]) -> str:
    """One line: how many samples of each kind were dropped for NaN/Inf values, and when."""
    parts = [f"{len(times)} {kind}(s) (first received at {times[0] * 1e-9:.3f} s)"
             for kind, times in non_finite.items() if times]
    return f"dropped samples with NaN/Inf values: {', '.join(parts)}"


def _to_stream(rows: list[tuple[int, int, np.ndarray]], what: str,
               non_finite: int = 0) -> Stream:
    if not rows:
        dropped = f" with finite values ({non_finite} had NaN/Inf)" if non_finite else ""
        raise EpisodeBagError(f"no {what} messages{dropped}")
    rows.sort(key=lambda r: r[0])
    return Stream(np.array([r[0] for r in rows], np.int64), np.stack([r[2] for r in rows]),
                  np.array([r[1] for r in rows], np.int64))


def read_episode(episode_dir: str | Path, profile: RobotProfile) -> RawEpisode:
    """The whole bag as one episode; any unusable message fails it. Raises EpisodeBagError
    naming the bag."""
    raw = read_bag(episode_dir, profile)
    if raw.faults:
        raise EpisodeBagError(f"{raw.episode_dir}: {faults_reason(raw.faults, raw.span_ns[0])}")
    return raw


def read_bag(episode_dir: str | Path, profile: RobotProfile, split_topic: str = "") -> RawEpisode:
    """Decodes the profile's topics from one bag (and ``split_topic``'s samples), keeping
    unusable messages as faults. Raises EpisodeBagError naming the bag."""
    episode_dir = Path(episode_dir)
    try:
        return _read_bag(episode_dir, profile, split_topic)
    except (EpisodeBagError, KeyError, ValueError) as exc:
        raise EpisodeBagError(f"{episode_dir}: {exc}") from exc


def expected_types(profile: RobotProfile) -> dict[str, tuple[str, ...]]:
    """Topic -> the message types conversion reads on it (cameras: raw or compressed)."""
    expected = {topic: (JOINT_STATE,) for topic in profile.joint_state_topics}
    expected.update({g.topic: (commands.MESSAGE_TYPES[g.interface],)
                     for g in profile.command_groups})
    expected.update({c.topic: IMAGE_TYPES for c in profile.cameras})
    return expected


def _read_bag(episode_dir: Path, profile: RobotProfile, split_topic: str) -> RawEpisode:
    info = read_metadata(episode_dir)
    span_ns = bag_span_ns(info)
    cameras = {c.topic: c for c in profile.cameras}
    groups = {g.topic: g for g in profile.command_groups}
    merge = JointStateMerge(profile.joint_names, profile.joint_state_topics,
                            SafetyConfig.stale_after_periods * profile.control_period)
    expected = expected_types(profile)
    split_samples = TopicSamples(split_topic) if split_topic else None
    warnings: list[str] = []
    faults: list[tuple[int, str]] = []
    joints: list = []
    unmerged: list[str] = []  # why joint states could not be merged, one per dropped reading
    commanded: dict[str, list] = {g.name: [] for g in profile.command_groups}
    answered: dict[str, list[int]] = {g.name: [] for g in profile.command_groups}
    images: dict[str, list] = {c.name: [] for c in profile.cameras}
    non_finite: dict[str, list[int]] = {"joint state": [], "command": []}  # receive times
    sources: list[tuple[int, bool]] = []  # (receive ns, the policy sent the commands)
    last_joint_stamp = -1
    topics = {*expected, split_topic, features.COMMAND_SOURCE_TOPIC} - {""}
    # The reader yields messages in receive order (log time, then file order).
    for topic, msgtype, log_ns, raw in iter_raw_messages(episode_dir, topics, warnings):
        if topic == split_topic:
            data = (TYPESTORE.deserialize_cdr(raw, msgtype).data if msgtype in MARKER_TYPES
                    else None)
            split_samples.add(msgtype, log_ns, data)
        if topic == features.COMMAND_SOURCE_TOPIC and msgtype == STRING:
            data = TYPESTORE.deserialize_cdr(raw, msgtype).data
            sources.append((log_ns, data == features.POLICY_SOURCE))
        if topic not in expected:
            continue
        if msgtype not in expected[topic]:
            raise EpisodeBagError(f"{topic} holds {msgtype}; the profile reads "
                                  f"{' or '.join(expected[topic])} there")
        msg = TYPESTORE.deserialize_cdr(raw, msgtype)
        try:
            if topic in merge.topics:
                stamp = _stamp_ns(msg.header)
                try:
                    positions = merge.add(topic, msg.name, np.asarray(msg.position, np.float64),
                                          stamp * 1e-9)
                except StaleSourceError as exc:
                    if merge.heard_all:  # not the usual start, before a gripper's first message
                        unmerged.append(str(exc))
                    continue
                if positions is None:
                    continue
                if not np.isfinite(positions).all():
                    non_finite["joint state"].append(log_ns)
                    continue
                last_joint_stamp = stamp
                joints.append((stamp, log_ns, positions))
            elif topic in groups:
                group = groups[topic]
                stamp, targets = decode_command(group, msg, log_ns)
                if not np.isfinite(targets).all():
                    non_finite["command"].append(log_ns)
                    continue
                commanded[group.name].append((stamp, log_ns, targets))
                answered[group.name].append(last_joint_stamp)
            else:
                camera = cameras[topic]
                images[camera.name].append((_stamp_ns(msg.header), log_ns,
                                            decode_image(msg, msgtype, camera)))
        except (EpisodeBagError, KeyError, ValueError, IndexError) as exc:
            faults.append((log_ns, f"{topic}: {exc}"))
    if any(non_finite.values()):
        warnings.append(f"{episode_dir}: {_non_finite_reason(non_finite)}")
    if unmerged:
        warnings.append(f"{episode_dir}: {len(unmerged)} joint state(s) not merged "
                        f"(first: {unmerged[0]})")
    try:
        joint_stream = _to_stream(joints, f"joint state ({', '.join(merge.topics)})",
                                  len(non_finite["joint state"]))
        group_streams = []
        for group in profile.command_groups:
            rows = commanded[group.name]
            if not group.timed and rows:
                stamps = place_headerless_commands(
                    np.array([c[1] for c in rows], np.int64),
                    np.array(answered[group.name], np.int64), joint_stream,
                    int(1e9 / profile.control_hz), warnings)
                rows = [(int(t), log, v) for t, (_, log, v) in zip(stamps, rows, strict=True)]
            group_streams.append(_to_stream(rows, f"command ({group.topic})",
                                            len(non_finite["command"])))
        image_streams = {name: _to_stream(rows, f"camera {name!r} image")
                         for name, rows in images.items()}
    except EpisodeBagError as exc:  # a topic with nothing usable: say why, when we know
        if not faults:
            raise
        raise EpisodeBagError(f"{exc}; {faults_reason(faults, span_ns[0])}") from None
    policy_sources = None
    if sources:
        times = np.array([t for t, _ in sources], np.int64)
        policy_sources = Stream(times, np.array([p for _, p in sources], np.float32), times)
    return RawEpisode(episode_dir, dict(info.get("custom_data") or {}), span_ns,
                      joint_stream, join_groups(profile, group_streams), image_streams,
                      warnings, faults, split_samples, policy_sources)


def join_groups(profile: RobotProfile, streams: list[Stream]) -> Stream:
    """Full command vectors (profile order) from one stream per command group: at every stamp
    any group commanded, each group's latest command at or before it, from the first stamp at
    which every group has one."""
    if len(streams) == 1:
        return streams[0]
    stamps = np.unique(np.concatenate([s.stamps_ns for s in streams]))
    stamps = stamps[stamps >= max(s.stamps_ns[0] for s in streams)]
    values = np.empty((len(stamps), profile.n_joints))
    log_ns = np.zeros(len(stamps), np.int64)
    for group, stream in zip(profile.command_groups, streams, strict=True):
        latest = np.searchsorted(stream.stamps_ns, stamps, side="right") - 1
        values[:, profile.slots(group)] = stream.values[latest]
        log_ns = np.maximum(log_ns, stream.log_ns[latest])
    return Stream(stamps, values, log_ns)


def place_headerless_commands(receive_ns: np.ndarray, answered_ns: np.ndarray, joints: Stream,
                              period_ns: int, warnings: list[str]) -> np.ndarray:
    """Header-clock stamps for commands that carry only their receive time.

    A command is stamped with the header stamp of the last joint state received before it: the
    state it answers. Receive times alone are ambiguous by a tick in a lockstep simulation,
    where the recorder's sim clock may lag or lead the message it stamps. Falls back to the
    receive time when no joint state came first, or when the clocks agree but that state is
    over a control period away (a stalled joint_states stream).
    """
    offset = np.median(joints.stamps_ns - joints.log_ns)
    valid = answered_ns >= 0
    if abs(offset) >= CLOCK_MISMATCH_NS:
        warnings.append("receive times are on another clock than header stamps (median offset "
                        f"{offset / 1e9:.1f} s); commands placed by the joint states they answer")
    else:
        valid &= np.abs(answered_ns - receive_ns) <= period_ns
    return np.where(valid, answered_ns, receive_ns)

