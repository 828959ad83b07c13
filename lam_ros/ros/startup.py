"""A node that cannot start says why in one line and exits 1, instead of a traceback."""

from __future__ import annotations

from collections.abc import Callable

import rclpy
from rclpy.node import Node


def create_or_refuse(factory: Callable[[], Node], name: str,
                     errors: tuple[type[Exception], ...] = (ValueError,)) -> Node | None:
    """The node, or None after logging ``cannot start: <reason>`` for a bad profile, parameter
    (ValueError, ProfileError) or one of ``errors``; rclpy is shut down then."""
    try:
        return factory()
    except errors as exc:
        rclpy.logging.get_logger(name).fatal(f"cannot start: {exc}")
        rclpy.try_shutdown()
        return None
