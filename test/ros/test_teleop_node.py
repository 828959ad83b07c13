"""teleop_node in-process over real DDS with synthetic Joy messages (the joystick is the one
seam faked here, through its real interface: sensor_msgs/Joy on /joy)."""

import threading
import time

import numpy as np
import pytest
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import JointState, Joy
from std_msgs.msg import Float64MultiArray
from std_srvs.srv import Trigger

from lam_ros.core.teleop import TeleopConfig
from lam_ros.nodes.teleop_node import TeleopNode
from lam_ros.ros import qos

pytestmark = pytest.mark.ros
CFG = TeleopConfig()


class Operator(Node):
    """Plays the joystick, the robot's joint states and the recorder's start service."""

    def __init__(self, context, profile):
        super().__init__("teleop_test_operator", context=context)
        self.profile = profile
        self.joy_pub = self.create_publisher(Joy, "/joy", 10)
        self.joint_pub = self.create_publisher(JointState, "/joint_states", qos.SENSOR)
        self.commands: list[np.ndarray] = []
        self.create_subscription(Float64MultiArray, profile.command.topic,
                                 lambda m: self.commands.append(np.array(m.data)), qos.COMMAND)
        self.starts = 0
        self.create_service(Trigger, "/recorder_node/start", self._on_start)
        self.joy: Joy | None = None  # what the "joystick" publishes at 20 Hz; None = unplugged
        self.create_timer(0.05, self._publish)

    def _on_start(self, request, response):
        self.starts += 1
        response.success, response.message = True, "episode_000000"
        return response

    def _publish(self):
        stamp = self.get_clock().now().to_msg()
        state = JointState(name=list(self.profile.joint_names),
                           position=[float(v) for v in self.profile.home])
        state.header.stamp = stamp
        self.joint_pub.publish(state)
        if self.joy is not None:
            self.joy.header.stamp = stamp
            self.joy_pub.publish(self.joy)

    def set_joy(self, axes=None, pressed=()):
        msg = Joy(axes=[0.0] * 6, buttons=[0] * 15)
        for index, value in (axes or {}).items():
            msg.axes[index] = value
        for index in pressed:
            msg.buttons[index] = 1
        self.joy = msg

    def commands_until(self, count, timeout):
        """Commands from now on, once ``count`` arrived or ``timeout`` s passed (a loaded
        machine may delay a tick; the count still has to be reached)."""
        self.commands.clear()
        deadline = time.monotonic() + timeout
        while len(self.commands) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return list(self.commands)

    def commands_during(self, seconds):
        self.commands.clear()
        time.sleep(seconds)
        return list(self.commands)


@pytest.fixture
def operator(rclpy_context, profile):
    teleop_node = TeleopNode(context=rclpy_context)
    op = Operator(rclpy_context, profile)
    executor = MultiThreadedExecutor(num_threads=3, context=rclpy_context)
    executor.add_node(teleop_node)
    executor.add_node(op)
    threading.Thread(target=executor.spin, daemon=True).start()
    deadline = time.monotonic() + 10
    while teleop_node.measured is None or op.joy_pub.get_subscription_count() == 0:
        assert time.monotonic() < deadline, "teleop_node did not connect"
        time.sleep(0.05)
    yield op
    executor.shutdown()
    teleop_node.destroy_node()
    op.destroy_node()


def test_deadman_release_and_silence(operator, profile):
    operator.set_joy()  # deadman not held: hold
    assert operator.commands_during(0.8) == []

    operator.set_joy({CFG.axis_z: 1.0}, [CFG.deadman_button])
    moving = operator.commands_until(5, timeout=5.0)
    assert len(moving) >= 5
    assert all(np.all(np.isfinite(c)) and len(c) == profile.n_joints for c in moving)
    steps = [np.abs(b - a).max() for a, b in zip(moving, moving[1:], strict=False)]
    assert min(steps) > 0  # every command moves the arm on

    operator.set_joy({CFG.axis_z: 1.0})  # deadman released
    time.sleep(0.3)
    assert operator.commands_during(1.0) == []

    operator.set_joy({CFG.axis_z: 1.0}, [CFG.deadman_button])
    assert len(operator.commands_until(3, timeout=5.0)) >= 3
    operator.joy = None  # joystick unplugged while the deadman was held
    time.sleep(CFG.joy_timeout_s + 0.3)
    assert operator.commands_during(1.0) == []


def test_start_button_calls_recorder(operator):
    operator.set_joy()
    time.sleep(0.3)
    operator.set_joy(pressed=[CFG.start_button])
    time.sleep(0.5)  # several messages with the button held: one press, one call
    operator.set_joy()
    deadline = time.monotonic() + 5
    while operator.starts == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    assert operator.starts == 1
