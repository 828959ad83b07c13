"""`lam-ros view`: a running graph, or recorded bags, in Foxglove (no ROS 2 distribution needed).

Live (``--robot``): ``view_node`` subscribes the profile's cameras, joint states and command
topics and the graph's /diagnostics, /joy and /command_source (best effort, so a viewer never
slows a publisher) and forwards every message to a Foxglove WebSocket server bound to 127.0.0.1
unless ``--host`` says otherwise; Foxglove connects to the address it prints. Bags (``--bag``):
one MCAP file per episode, which Foxglove opens directly. What each message becomes is
``data/viewer.py``.
"""

from __future__ import annotations

import argparse
import os
import sys

import foxglove
import rclpy
from rclpy.node import Node
from rclpy.parameter import Parameter

from lam_ros.core.profile import ProfileError, load_profile
from lam_ros.data.bag_metadata import BagError
from lam_ros.data.viewer import ViewerChannels, view_topics, write_bag_views
from lam_ros.ros import qos
from lam_ros.ros.convert import message_class
from lam_ros.ros.guard import MessageGuard
from lam_ros.ros.startup import spin_until_stopped


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--robot", help="robot profile (name or YAML path); with --bag it "
                        "defaults to the profile each bag recorded")
    parser.add_argument("--bag", help="an episode folder or a folder of episodes: write one "
                        "MCAP file per episode for Foxglove instead of serving a live graph")
    parser.add_argument("--out", default="view", help="with --bag: folder for the MCAP files")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address the WebSocket server binds to (loopback by default)")
    parser.add_argument("--port", type=int, default=8765, help="WebSocket port (0: a free one)")
    parser.add_argument("--sim-time", action="store_true",
                        help="time messages without a header stamp by /clock (a simulated graph)")


class ViewNode(Node):
    def __init__(self, channels: ViewerChannels, topics: dict[str, str], sim_time: bool):
        super().__init__("view_node",
                         parameter_overrides=[Parameter("use_sim_time", value=sim_time)])
        self.channels = channels
        guard = MessageGuard(self)
        for topic, msgtype in topics.items():
            guard.subscribe(message_class(msgtype), topic,
                            lambda cdr, t=topic, m=msgtype: self._forward(t, m, cdr),
                            qos.SENSOR, raw=True)

    def _forward(self, topic: str, msgtype: str, cdr: bytes) -> None:
        self.channels.forward(topic, msgtype, cdr, self.get_clock().now().nanoseconds)


def view_live(args: argparse.Namespace) -> int:
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    profile = load_profile(args.robot)
    context = foxglove.Context()
    server = foxglove.start_server(name=f"lam_ros {profile.name}", host=args.host,
                                   port=args.port, context=context)
    rclpy.init()
    node = ViewNode(ViewerChannels(context, profile.command_groups), view_topics(profile),
                    args.sim_time)
    address = f"ws://{args.host}:{server.port}"
    print(f"serving {profile.name}'s topics on {address} (Ctrl-C to stop)\n"
          f"in Foxglove: Open connection > Foxglove WebSocket > {address}, or open "
          f"{server.app_url()}", flush=True)
    try:
        spin_until_stopped(node)
    finally:
        server.stop()
    return 0


def view_bags(args: argparse.Namespace) -> int:
    profile = load_profile(args.robot) if args.robot else None
    written = 0
    for view in write_bag_views(args.bag, args.out, profile):
        for warning in view.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        print(f"{view.path}: {view.messages} messages from {view.episode_dir}", flush=True)
        written += 1
    if not written:
        print(f"error: no episode bags under {args.bag}", file=sys.stderr)
        return 1
    print("open them in Foxglove: Open local file, or drop them on the window")
    return 0


def run(args: argparse.Namespace) -> int:
    if not (args.bag or args.robot):
        print("error: give --robot PROFILE (a live graph) or --bag FOLDER", file=sys.stderr)
        return 2
    try:
        return view_bags(args) if args.bag else view_live(args)
    except (ProfileError, BagError, OSError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
