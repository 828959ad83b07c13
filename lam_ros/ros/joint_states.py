"""Joint states over a profile's ``joint_state_topics``: into a node, merged by name; and out of
a robot (the simulator, test and benchmark stand-ins), split as separate drivers report them.

Subscriptions go through the node's MessageGuard, so a message that cannot be merged (a joint
missing, a stale gripper topic) is dropped with a warning naming why, and the node holds.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import JointState

from lam_ros.core.joint_merge import JointStateMerge, split_by_topic
from lam_ros.core.profile import RobotProfile
from lam_ros.core.safety import SafetyConfig
from lam_ros.ros import qos
from lam_ros.ros.convert import joint_state, stamp_to_sec
from lam_ros.ros.guard import MessageGuard

DEFAULT_MAX_AGE_PERIODS = SafetyConfig.stale_after_periods


class JointStateInput:
    """Calls ``on_positions(stamp_s, positions)`` (profile order) for every merged reading."""

    def __init__(self, node: Node, messages: MessageGuard, profile: RobotProfile,
                 on_positions: Callable[[float, np.ndarray], None],
                 max_age_periods: float = DEFAULT_MAX_AGE_PERIODS):
        self.on_positions = on_positions
        self.merge = JointStateMerge(profile.joint_names, profile.joint_state_topics,
                                     max_age_periods * profile.control_period)
        for topic in profile.joint_state_topics:
            messages.subscribe(JointState, topic, lambda msg, t=topic: self._on_message(t, msg),
                               qos.SENSOR)

    @property
    def topic(self) -> str:
        """The topic whose messages yield readings (the others are merged into it)."""
        return self.merge.base

    def _on_message(self, topic: str, msg: JointState) -> None:
        stamp = stamp_to_sec(msg.header.stamp)
        positions = self.merge.add(topic, list(msg.name), np.asarray(msg.position), stamp)
        if positions is not None:
            self.on_positions(stamp, positions)


class JointStatePublisher:
    """Publishes a robot's joint states over the profile's topics (see split_by_topic)."""

    def __init__(self, node: Node, profile: RobotProfile, names: list[str]):
        self.names = list(names)
        self.split = split_by_topic(profile, self.names)
        self.publishers = {topic: node.create_publisher(JointState, topic, qos.SENSOR)
                           for topic in self.split}

    def publish(self, positions: np.ndarray, velocities: np.ndarray | None, stamp) -> None:
        """``positions`` (and ``velocities``) in ``names`` order. The base topic goes last, so a
        merging reader already has this instant's gripper state when the base arrives."""
        positions = np.asarray(positions, dtype=np.float64)
        for topic, index in reversed(self.split.items()):
            self.publishers[topic].publish(joint_state(
                [self.names[k] for k in index], positions[index],
                None if velocities is None else np.asarray(velocities)[index], stamp))

    def subscribed(self) -> bool:
        """Every topic has a subscriber (DDS matched)."""
        return all(p.get_subscription_count() > 0 for p in self.publishers.values())
