"""A stop signal that shuts the context down while a callback is inside rcl ends a node cleanly
(seen: recorder_node exited 1 on SIGTERM, its graph discovery cut off with "rcl node's context is
invalid"); the same error while the context is up is a real one."""

import pytest
import rclpy
from rclpy._rclpy_pybind11 import RCLError
from rclpy.context import Context

from lam_ros.ros.startup import spin_until_shutdown


def test_a_callback_cut_off_by_the_shutdown_is_a_normal_stop():
    context = Context()
    rclpy.init(context=context)

    def spin():
        context.shutdown()  # what the signal handler does
        raise RCLError("Failed to get information by topic for publishers: rcl node's "
                       "context is invalid")

    spin_until_shutdown(spin, context)


def test_an_rcl_error_while_the_context_is_up_is_raised():
    context = Context()
    rclpy.init(context=context)

    def spin():
        raise RCLError("something else failed")

    try:
        with pytest.raises(RCLError, match="something else failed"):
            spin_until_shutdown(spin, context)
    finally:
        context.try_shutdown()
