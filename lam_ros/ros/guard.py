"""Subscriptions whose messages can never kill a node.

A message of the right type can still be unusable: a zero-sized or truncated image, a JointState
whose names and positions differ in length, a jpeg that does not decode. Every subscription of
every lam_ros node goes through ``MessageGuard.subscribe``: a callback that raises turns into a
throttled warning naming the topic and the error, and a per-topic count the node reports.
"""

from __future__ import annotations

import inspect
from collections import Counter
from collections.abc import Callable

from rclpy.node import Node


class MessageGuard:
    def __init__(self, node: Node):
        self.node = node
        self.dropped: Counter[str] = Counter()  # topic -> messages whose callback raised

    def subscribe(self, msg_type, topic: str, callback: Callable, qos, **kwargs):
        """``node.create_subscription`` with ``callback`` guarded."""
        return self.node.create_subscription(msg_type, topic, self.wrap(topic, callback), qos,
                                             **kwargs)

    def wrap(self, topic: str, callback: Callable) -> Callable:
        def guarded(*args) -> None:
            try:
                callback(*args)
            except Exception as exc:  # any bad message is dropped, not fatal
                self.dropped[topic] += 1
                self.node.get_logger().warning(
                    f"{topic}: dropped an unusable message ({type(exc).__name__}: {exc}); "
                    f"{self.dropped[topic]} dropped so far", throttle_duration_sec=5.0)
        try:  # rclpy passes MessageInfo to callbacks that take two arguments: keep the arity
            inspect.signature(callback).bind(object())
            return lambda msg: guarded(msg)
        except TypeError:
            return lambda msg, info: guarded(msg, info)

    def report(self) -> dict[str, str]:
        """Key/values for /diagnostics or a status topic."""
        return {f"dropped_messages.{topic}": str(n) for topic, n in sorted(self.dropped.items())}
