"""What `lam-ros view` shows in Foxglove, for a running graph and for recorded bags alike.

Every message goes to the viewer on its own topic as it came off the wire: CDR with its ROS 2
message definition as a ``ros2msg`` schema, which Foxglove decodes natively (images in the Image
panel, /diagnostics in the Diagnostics panel, any field in a Plot). Joint states and command
groups' commands also go out on ``<topic>/by_name`` as JSON ``{joint: position}``, so a plot
names its joint (``/joint_states/by_name.<joint name>``) and shows the command beside the
measured position. A message is timed by its header stamp, or by its receive time when it has no
header or a zero stamp (a trajectory's "start now").

The sink is a foxglove Context: the live view's WebSocket server and a bag view's MCAP file take
the same channels.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import foxglove

from lam_ros.core import commands, features
from lam_ros.core.profile import CommandGroup, RobotProfile, load_profile
from lam_ros.data.bag_metadata import read_metadata
from lam_ros.data.episode_bag import JOINT_STATE, TYPESTORE, find_episode_dirs, iter_raw_messages

# Shown beside the profile's topics whenever they carry messages.
GRAPH_TOPICS = {
    "/diagnostics": "diagnostic_msgs/msg/DiagnosticArray",
    "/joy": "sensor_msgs/msg/Joy",
    "/command_source": "std_msgs/msg/String",
    "/sim_node/side_view/image_raw": "sensor_msgs/msg/Image",
}
BY_NAME = "/by_name"
JOINT_POSITIONS = {"title": "lam_ros.JointPositions", "type": "object",
                   "additionalProperties": {"type": "number"}}  # a by_name message's schema
EPISODE_METADATA = "lam_ros.episode"  # the MCAP metadata record holding an episode's facts


def view_topics(profile: RobotProfile) -> dict[str, str]:
    """Topic -> message type the viewer shows: the profile's cameras, joint states and command
    groups, and the graph's diagnostics, joystick, command source and the sim's side view."""
    return {**commands.profile_topics(profile), **GRAPH_TOPICS}


def names_joints(msgtype: str, group: CommandGroup | None) -> bool:
    """Whether messages of ``msgtype`` (on ``group``'s topic, if any) carry joint positions."""
    return msgtype == JOINT_STATE or (group is not None
                                      and msgtype == commands.MESSAGE_TYPES[group.interface])


def joints_by_name(msg, msgtype: str, group: CommandGroup | None) -> dict[str, float]:
    """{joint: position} of a message ``names_joints`` accepts: a JointState's positions or a
    command's targets (a trajectory's first point). Values that are not finite are left out, a
    gap in a plot."""
    if msgtype == JOINT_STATE:
        names, values = msg.name, msg.position
    else:
        command = commands.decode(group, msg)
        names, values = command.joint_names, command.points[0][1] if command.points else ()
    return {name: float(v) for name, v in zip(names, values, strict=False) if math.isfinite(v)}


def log_time_ns(msg, receive_ns: int) -> int:
    """The header stamp when there is a positive one, else the receive time."""
    header = getattr(msg, "header", None)
    stamp = header.stamp.sec * 1_000_000_000 + header.stamp.nanosec if header else 0
    return stamp if stamp > 0 else receive_ns


class ViewerChannels:
    """The Foxglove channels of one Context, each made when its topic's first message comes."""

    def __init__(self, context: foxglove.Context, groups: tuple[CommandGroup, ...]):
        self.context = context
        self.groups = {g.topic: g for g in groups}
        self.channels: dict[str, foxglove.Channel] = {}

    def forward(self, topic: str, msgtype: str, cdr: bytes, receive_ns: int) -> None:
        """Logs one message as received, and its joints by name on a joint topic."""
        if topic not in self.channels:
            self._open(topic, msgtype)
        raw, named = self.channels[topic], self.channels.get(topic + BY_NAME)
        if not (raw.has_sinks() or (named and named.has_sinks())):
            return  # nobody is watching: no decoding
        msg = TYPESTORE.deserialize_cdr(cdr, msgtype)
        log_ns = log_time_ns(msg, receive_ns)
        raw.log(cdr, log_time=log_ns)
        if named:
            named.log(joints_by_name(msg, msgtype, self.groups.get(topic)), log_time=log_ns)

    def _open(self, topic: str, msgtype: str) -> None:
        definition, _ = TYPESTORE.generate_msgdef(msgtype, ros_version=2)
        schema = foxglove.Schema(name=msgtype, encoding="ros2msg", data=definition.encode())
        self.channels[topic] = foxglove.Channel(topic, schema=schema, message_encoding="cdr",
                                                context=self.context)
        if names_joints(msgtype, self.groups.get(topic)):
            self.channels[topic + BY_NAME] = foxglove.Channel(
                topic + BY_NAME, schema=JOINT_POSITIONS, context=self.context)


@dataclass
class BagView:
    episode_dir: Path
    path: Path  # the MCAP file written
    messages: int = 0
    warnings: list[str] = field(default_factory=list)


def write_bag_views(bags: str | Path, out_dir: str | Path,
                    profile: RobotProfile | None = None) -> Iterator[BagView]:
    """One MCAP file per episode bag under ``bags`` (an episode folder or a folder of them), at
    ``out_dir/<bags' name>/.../<episode>.mcap``, with the episode's facts as metadata. The
    profile (which topics, which command groups) defaults to the one each bag recorded."""
    root = Path(bags).resolve()
    for episode_dir in find_episode_dirs(root):
        target = Path(out_dir) / episode_dir.relative_to(root.parent)
        view = BagView(episode_dir, target.with_name(f"{target.name}.mcap"))
        facts = {str(k): str(v) for k, v in
                 (read_metadata(episode_dir).get("custom_data") or {}).items()}
        robot = profile or _recorded_profile(episode_dir, facts)
        view.path.parent.mkdir(parents=True, exist_ok=True)
        context = foxglove.Context()
        with foxglove.open_mcap(view.path, allow_overwrite=True, context=context) as writer:
            writer.write_metadata(EPISODE_METADATA, facts)
            channels = ViewerChannels(context, robot.command_groups)
            for topic, msgtype, log_ns, cdr in iter_raw_messages(
                    episode_dir, set(view_topics(robot)), view.warnings):
                channels.forward(topic, msgtype, bytes(cdr), log_ns)
                view.messages += 1
        yield view


def _recorded_profile(episode_dir: Path, facts: dict[str, str]) -> RobotProfile:
    name = facts.get(features.EPISODE_PROFILE)
    if not name:
        raise ValueError(f"{episode_dir}: the bag names no robot profile "
                         f"({features.EPISODE_PROFILE}); pass --robot")
    return load_profile(name)
