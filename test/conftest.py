"""Shared fixtures. DDS stays on loopback, and each pytest run gets a domain id of its own."""

import os

import pytest

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
# Domain ids 50..97 (inside the portable 0..101 range; the demo uses 42..45) are spread by pid so
# parallel runs on one machine do not cross-talk, 4 apart: `lam-ros evaluate` may also take the
# next three domains for its graphs.
os.environ.setdefault("LAM_ROS_TEST_DOMAIN_ID", str(50 + 4 * (os.getpid() % 12)))
os.environ["ROS_DOMAIN_ID"] = os.environ["LAM_ROS_TEST_DOMAIN_ID"]


SIM_PROFILES = ("panda_sim", "xarm6_sim")  # every robot-dependent test runs for both


@pytest.fixture(scope="session", params=SIM_PROFILES)
def profile(request):
    from lam_ros.core.profile import load_profile

    return load_profile(request.param)


@pytest.fixture
def rclpy_context():
    """A fresh rclpy context for in-process nodes; shut down after the test."""
    import rclpy
    from rclpy.context import Context

    context = Context()
    rclpy.init(context=context)
    yield context
    rclpy.try_shutdown(context=context)
