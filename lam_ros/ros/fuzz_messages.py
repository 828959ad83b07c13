"""Seeded generators of valid and malformed messages of every type lam_ros nodes subscribe to.

Each generator takes a numpy Generator and what a valid message would hold, and returns a message
of the right type that is valid or broken in one of the ways a real graph breaks them: empty and
huge arrays, NaN/Inf, wrong lengths, wrong encodings, sizes that disagree with the data,
reordered and unknown joint names, stamps far in the past or future, clocks that jump.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from builtin_interfaces.msg import Duration, Time
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import Image, JointState, Joy
from std_msgs.msg import Float64, Float64MultiArray
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from lam_ros.ros.convert import sec_to_stamp

ODD_VALUES = (math.nan, math.inf, -math.inf, 1e308, -1e308, 0.0)


def _odd_floats(rng: np.random.Generator, n: int) -> list[float]:
    values = rng.normal(0.0, 10.0, n)
    odd = rng.random(n) < 0.3
    values[odd] = rng.choice(ODD_VALUES, int(odd.sum()))
    return [float(v) for v in values]


def _stamp(rng: np.random.Generator, now_s: float) -> Time:
    kind = rng.integers(6)
    if kind == 0:
        return sec_to_stamp(max(0.0, now_s - rng.uniform(1.0, 1e6)))  # far in the past
    if kind == 1:
        return sec_to_stamp(now_s + rng.uniform(0.5, 1e6))  # in the future
    if kind == 2:
        return Time(sec=0, nanosec=0)
    return sec_to_stamp(now_s)


def joint_state(rng: np.random.Generator, names: Sequence[str], positions: np.ndarray,
                now_s: float) -> JointState:
    """A JointState near ``positions`` (the robot's true ones), broken one way or another."""
    names, q = list(names), np.asarray(positions, dtype=np.float64).copy()
    kind = rng.integers(9)
    if kind == 0:  # a glitch: one joint far off, finite
        q[rng.integers(len(q))] += rng.choice([-1, 1]) * rng.uniform(0.5, 4.0)
    elif kind == 1:  # NaN / Inf
        q[rng.integers(len(q))] = rng.choice(ODD_VALUES[:3])
    elif kind == 2:  # names and positions of different lengths
        q = q[: rng.integers(len(q))]
    elif kind == 3:  # a joint missing, or unknown names
        drop = rng.integers(len(names))
        names = [n for i, n in enumerate(names) if i != drop] + ["no_such_joint"]
        q = np.append(np.delete(q, drop), 0.0)
    elif kind == 4:  # empty
        names, q = [], np.zeros(0)
    elif kind == 5:  # huge
        extra = int(rng.integers(1000, 20000))
        names = names + [f"extra_{i}" for i in range(extra)]
        q = np.append(q, rng.normal(size=extra))
    elif kind == 6:  # reordered: valid, a node must match by name
        order = rng.permutation(len(names))
        names, q = [names[i] for i in order], q[order]
    msg = JointState(name=names, position=[float(v) for v in q])
    if rng.random() < 0.3:
        msg.velocity = _odd_floats(rng, int(rng.integers(0, 2 * len(names) + 1)))
    msg.header.stamp = _stamp(rng, now_s) if kind in (7, 8) else sec_to_stamp(now_s)
    return msg


def image(rng: np.random.Generator, width: int, height: int, now_s: float) -> Image:
    """An rgb8 Image of the camera's size, or one whose header and data disagree."""
    kind = rng.integers(8)
    w, h, encoding = width, height, "rgb8"
    step = w * 3
    size = h * step
    if kind == 0:
        w = h = step = size = 0  # zero-sized
    elif kind == 1:
        size = int(rng.integers(0, h * step))  # truncated
    elif kind == 2:
        encoding = str(rng.choice(["mono16", "bayer_rggb8", "", "rgba8", "32FC1"]))
    elif kind == 3:
        w, h = int(rng.integers(1, 5000)), int(rng.integers(1, 5000))  # claims, small data
    elif kind == 4:
        step = int(rng.integers(0, w * 3))  # a step shorter than a row
    elif kind == 5:
        w, h = int(rng.integers(8, 640)), int(rng.integers(8, 480))  # another size: valid
        step, size = w * 3, h * w * 3
    msg = Image(height=h, width=w, step=step, encoding=encoding,
                data=rng.integers(0, 256, size, dtype=np.uint8).tobytes())
    msg.header.stamp = _stamp(rng, now_s) if kind == 6 else sec_to_stamp(now_s)
    return msg


def joy(rng: np.random.Generator, now_s: float) -> Joy:
    """A Joy of any length, with odd axis values and any buttons held."""
    n_axes = int(rng.choice([0, 2, 6, 8, 500]))
    n_buttons = int(rng.choice([0, 4, 15, 17, 500]))
    msg = Joy(axes=_odd_floats(rng, n_axes),
              buttons=[int(b) for b in rng.choice([0, 1, -1, 2**31 - 1], n_buttons,
                                                   p=[0.6, 0.35, 0.025, 0.025])])
    msg.header.stamp = _stamp(rng, now_s)
    return msg


def clock(rng: np.random.Generator, now_s: float) -> Clock:
    """A /clock that jumps back, forward, to zero, or stays put."""
    jumps = [now_s, 0.0, max(0.0, now_s - rng.uniform(0, 1e4)), now_s + rng.uniform(0, 1e6)]
    return Clock(clock=sec_to_stamp(float(rng.choice(jumps))))


def positions_command(rng: np.random.Generator, n_joints: int) -> Float64MultiArray:
    n = int(rng.choice([0, n_joints - 1, n_joints, n_joints + 3, 10000]))
    return Float64MultiArray(data=_odd_floats(rng, n))


def opening_command(rng: np.random.Generator) -> Float64:
    """A single gripper opening: ordinary, odd (NaN, inf, huge) or far outside the limits."""
    return Float64(data=_odd_floats(rng, 1)[0])


def trajectory_command(rng: np.random.Generator, names: Sequence[str]) -> JointTrajectory:
    names = list(names)
    msg = JointTrajectory()
    kind = rng.integers(4)
    msg.joint_names = (names if kind == 0 else names[::-1] if kind == 1
                       else names[:-1] if kind == 2 else names + ["no_such_joint"])
    for _ in range(int(rng.choice([0, 1, 3, 200]))):
        point = JointTrajectoryPoint(positions=_odd_floats(rng, int(rng.integers(0, 12))))
        t = float(rng.choice([-1.0, 0.0, 0.1, 1e9]))
        point.time_from_start = Duration(sec=int(t) if abs(t) < 2**31 else 0,
                                         nanosec=int((abs(t) % 1) * 1e9))
        msg.points.append(point)
    return msg
