"""A node that cannot start says why in one line and exits 1, instead of a traceback; the usual
``main()`` of a node around that."""

from __future__ import annotations

from collections.abc import Callable

import rclpy
from rclpy._rclpy_pybind11 import RCLError
from rclpy.context import Context
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node

from lam_ros.launcher import exit_with_parent


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


def run_node(factory: Callable[[], Node], name: str,
             errors: tuple[type[Exception], ...] = (ValueError,), args=None) -> int:
    """Creates the node (or refuses, see ``create_or_refuse``) and spins it until Ctrl-C or
    SIGTERM; the exit code of a node's ``main()``."""
    exit_with_parent()
    rclpy.init(args=args)
    node = create_or_refuse(factory, name, errors)
    if node is None:
        return 1
    spin_until_stopped(node)
    return 0


def spin_until_stopped(node: Node) -> None:
    """Spins ``node`` on one thread until Ctrl-C or SIGTERM, then destroys it and shuts rclpy
    down. One thread: rclpy 9.1's MultiThreadedExecutor re-queues tasks that have not started
    yet and spins holding the GIL (ros2/rclpy#1452); measured in policy_node, it froze every
    Python thread of the process for up to 2 s, where the single-threaded executor never
    stalled."""
    try:
        spin_until_shutdown(lambda: rclpy.spin(node))  # a SingleThreadedExecutor
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


def spin_until_shutdown(spin: Callable[[], None], context: Context | None = None) -> None:
    """Runs ``spin`` until Ctrl-C or SIGTERM. The signal shuts ``context`` (default: rclpy's)
    down at any moment, and a callback then inside rcl fails with "context is invalid": that is
    part of stopping, not an error. An RCLError while the context is still up is raised."""
    try:
        spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except RCLError:
        if rclpy.ok(context=context):
            raise
