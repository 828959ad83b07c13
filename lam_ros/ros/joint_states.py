"""Joint states into a node: every topic of the profile's ``joint_state_topics``, merged by name.

Subscriptions go through the node's MessageGuard, so a message that cannot be merged (a joint
missing, a stale gripper topic) is dropped with a warning naming why, and the node holds.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import JointState

from lam_ros.core.joint_merge import JointStateMerge
from lam_ros.core.profile import RobotProfile
from lam_ros.core.safety import SafetyConfig
from lam_ros.ros import qos
from lam_ros.ros.convert import stamp_to_sec
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
