"""Node parameters from one config dataclass: declared with defaults, validated, read-only unless
the node can apply a change."""

from dataclasses import dataclass, field

import pytest
from rclpy.node import Node
from rclpy.parameter import Parameter

from lam_ros.ros.params import declare_config

pytestmark = pytest.mark.ros


@dataclass(frozen=True)
class DemoConfig:
    rate_hz: float = field(default=10.0, metadata={"help": "control rate"})
    name: str = "arm"
    joints: tuple[str, ...] = ("a", "b")

    def __post_init__(self):
        if self.rate_hz <= 0:
            raise ValueError(f"rate_hz must be > 0, got {self.rate_hz}")


def test_declares_defaults_validates_and_guards_read_only(rclpy_context):
    node = Node("params_test", context=rclpy_context)
    seen = []
    try:
        config = declare_config(node, DemoConfig, on_change=seen.append, mutable=("rate_hz",))
        assert config == DemoConfig()
        assert node.describe_parameter("rate_hz").description == "control rate"

        ok = node.set_parameters([Parameter("rate_hz", value=20.0)])[0]
        assert ok.successful and seen == [DemoConfig(rate_hz=20.0)]
        bad = node.set_parameters([Parameter("rate_hz", value=-1.0)])[0]
        assert not bad.successful and "rate_hz must be > 0, got -1.0" in bad.reason
        frozen = node.set_parameters([Parameter("name", value="other")])[0]
        assert not frozen.successful and "read-only" in frozen.reason
        assert len(seen) == 1
    finally:
        node.destroy_node()


def test_mutable_fields_need_a_callback(rclpy_context):
    node = Node("params_test2", context=rclpy_context)
    try:
        with pytest.raises(ValueError, match="on_change"):
            declare_config(node, DemoConfig, mutable=("rate_hz",))
    finally:
        node.destroy_node()
