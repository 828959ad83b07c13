"""`lam-ros joy`: a Linux gamepad on /joy without a ROS 2 distribution.

On a robot the standard `joy` node does this; on a laptop without a distro this reads the
kernel's joystick interface (``/dev/input/jsN``, no extra library) and publishes sensor_msgs/Joy
in the joy node's conventions for the default pad (``core/gamepad.py``): on every change, and
again every 1/``--rate`` s while nothing changes (the joy node's autorepeat), reliable, depth 10.
A device that disappears ends the command with exit code 1; teleop_node then holds the robot
when /joy goes quiet.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from sensor_msgs.msg import Joy

from lam_ros.core.gamepad import EVENT, PadState, decode

CHANGE_POLL_S = 0.005  # how soon a change goes out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="/dev/input/js0", help="joystick device")
    parser.add_argument("--rate", type=float, default=20.0,
                        help="Hz at which an unchanged state is sent again (joy's autorepeat)")
    parser.add_argument("--deadzone", type=float, default=0.05, help="stick deadzone, 0..1")
    parser.add_argument("--topic", default="/joy")


class GamepadNode(Node):
    def __init__(self, device: str, rate_hz: float, deadzone: float, topic: str):
        super().__init__("joy_node")
        if not rate_hz > 0:
            raise ValueError(f"--rate must be > 0, got {rate_hz}")
        self.pad = PadState(deadzone)
        self.lock = threading.Lock()
        self.changed = True
        self.failure = ""
        self.fd = os.open(device, os.O_RDONLY)  # FileNotFoundError names the device
        self.publisher = self.create_publisher(Joy, topic, 10)
        self.create_timer(CHANGE_POLL_S, self._on_change)
        self.create_timer(1.0 / rate_hz, self._publish)
        self.reader = threading.Thread(target=self._read, name="gamepad", daemon=True)
        self.reader.start()

    def _read(self) -> None:
        pending = b""
        while True:
            try:
                data = os.read(self.fd, 64 * EVENT.size)
            except OSError as exc:
                self.failure = f"reading the gamepad failed: {exc}"
                return
            if not data:
                self.failure = "the gamepad went away (end of file)"
                return
            pending += data
            whole = len(pending) - len(pending) % EVENT.size
            events, pending = decode(pending[:whole]), pending[whole:]
            with self.lock:
                for event in events:
                    self.changed |= self.pad.apply(event)

    def _on_change(self) -> None:
        if self.failure:
            raise SystemExit(self.failure)
        if self.changed:
            self._publish()

    def _publish(self) -> None:
        with self.lock:
            axes, buttons, self.changed = list(self.pad.axes), list(self.pad.buttons), False
        msg = Joy(axes=axes, buttons=buttons)
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.header.frame_id = "joy"
        self.publisher.publish(msg)


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    rclpy.init()
    try:
        node = GamepadNode(args.device, args.rate, args.deadzone, args.topic)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}" + (" (is the gamepad plugged in? `ls /dev/input/js*`)"
                                 if isinstance(exc, FileNotFoundError) else ""), file=sys.stderr)
        rclpy.try_shutdown()
        return 2
    print(f"publishing {args.device} on {args.topic} (Ctrl-C to stop)", flush=True)
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        return 0
    except SystemExit as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0
