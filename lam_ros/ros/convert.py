"""Message <-> numpy conversions shared by every node."""

from __future__ import annotations

import importlib
from collections.abc import Sequence

import numpy as np
from builtin_interfaces.msg import Duration, Time
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float64MultiArray
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from lam_ros.core.joints import reorder_by_name
from lam_ros.data.images import raw_to_rgb


def stamp_to_sec(stamp: Time) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def sec_to_stamp(t: float) -> Time:
    # Round the whole value, then split: 4.999999999999998 must become 5 s, not 4 s + 0 ns.
    sec, nanosec = divmod(int(round(t * 1e9)), 1_000_000_000)
    return Time(sec=sec, nanosec=nanosec)


def sec_to_duration(t: float) -> Duration:
    sec, nanosec = divmod(int(round(t * 1e9)), 1_000_000_000)
    return Duration(sec=sec, nanosec=nanosec)


def image_to_rgb(msg: Image) -> np.ndarray:
    """An rgb8/bgr8 Image as an HxWx3 uint8 RGB array (copy)."""
    return raw_to_rgb(bytes(msg.data), msg.height, msg.width, msg.step, msg.encoding).copy()


def rgb_to_image(rgb: np.ndarray, stamp: Time, frame_id: str) -> Image:
    msg = Image()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.height, msg.width = int(rgb.shape[0]), int(rgb.shape[1])
    msg.encoding = "rgb8"
    msg.step = msg.width * 3
    msg.data = np.ascontiguousarray(rgb, dtype=np.uint8).tobytes()
    return msg


def joint_positions(msg: JointState, joint_names: Sequence[str]) -> np.ndarray:
    """Positions in ``joint_names`` order, matched by name; a missing joint is named."""
    return reorder_by_name(list(msg.name), np.asarray(msg.position, dtype=np.float64), joint_names)


def joint_state(names: Sequence[str], positions: np.ndarray, velocities: np.ndarray | None,
                stamp: Time) -> JointState:
    msg = JointState()
    msg.header.stamp = stamp
    msg.name = list(names)
    msg.position = [float(v) for v in positions]
    if velocities is not None:
        msg.velocity = [float(v) for v in velocities]
    return msg


def float64_command(positions: np.ndarray) -> Float64MultiArray:
    return Float64MultiArray(data=[float(v) for v in positions])


def trajectory_command(names: Sequence[str], points: Sequence[tuple[float, np.ndarray]],
                       stamp: Time) -> JointTrajectory:
    """A JointTrajectory from (time_from_start seconds, positions) pairs."""
    msg = JointTrajectory()
    msg.header.stamp = stamp
    msg.joint_names = list(names)
    for t, positions in points:
        point = JointTrajectoryPoint()
        point.positions = [float(v) for v in positions]
        point.time_from_start = sec_to_duration(t)
        msg.points.append(point)
    return msg


def message_class(msgtype: str):
    """The Python class of a ROS 2 message type name as the graph reports it
    (``sensor_msgs/msg/Image``)."""
    package, _, name = msgtype.split("/")
    return getattr(importlib.import_module(f"{package}.msg"), name)
