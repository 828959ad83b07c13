"""teleop_node in-process over real DDS with synthetic Joy messages (the joystick is the one
seam faked here, through its real interface: sensor_msgs/Joy on /joy)."""

import threading
import time

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticStatus
from diagnostics_reports import DiagnosticsReports
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from robot_topics import RobotTopics
from rosgraph_msgs.msg import Clock as ClockMsg
from sensor_msgs.msg import Joy
from std_srvs.srv import Trigger
from waiting import wait_for

from lam_ros.core.teleop import TeleopConfig
from lam_ros.nodes.teleop_node import TeleopNode
from lam_ros.ros import qos
from lam_ros.ros.convert import sec_to_stamp

pytestmark = pytest.mark.ros
CFG = TeleopConfig()


class Operator(Node):
    """Plays the joystick, the robot's joint states and the recorder's start service."""

    def __init__(self, context, profile, teleop_node):
        super().__init__("teleop_test_operator", context=context)
        self.profile = profile
        self.teleop = teleop_node
        self.joy_pub = self.create_publisher(Joy, "/joy", 10)
        self.robot = RobotTopics(self, profile)
        self.commands = self.robot.commands  # full vectors, one per tick
        self.starts = 0
        self.create_service(Trigger, "/recorder_node/start", self._on_start)
        self.joy: Joy | None = None  # what the "joystick" publishes at 20 Hz; None = unplugged
        self.joy_published = 0
        self.sim_time: float | None = None  # set: publish /clock and stamp with it
        self.clock_pub = self.create_publisher(ClockMsg, "/clock", qos.CLOCK)
        self.create_timer(0.05, self._publish)

    def _on_start(self, request, response):
        self.starts += 1
        response.success, response.message = True, "episode_000000"
        return response

    def _publish(self):
        stamp = self.get_clock().now().to_msg()
        if self.sim_time is not None:
            self.sim_time += 0.05
            stamp = sec_to_stamp(self.sim_time)
            self.clock_pub.publish(ClockMsg(clock=stamp))
        self.robot.publish_joint_states(self.profile.home, stamp)
        if self.joy is not None:
            self.joy.header.stamp = stamp
            self.joy_pub.publish(self.joy)
            self.joy_published += 1

    def set_joy(self, axes=None, pressed=()):
        msg = Joy(axes=[0.0] * 6, buttons=[0] * 15)
        for index, value in (axes or {}).items():
            msg.axes[index] = value
        for index in pressed:
            msg.buttons[index] = 1
        self.joy = msg

    def published(self, count):
        """Waits until the joystick has sent ``count`` more messages."""
        start = self.joy_published
        wait_for(lambda: self.joy_published >= start + count, what=f"{count} Joy messages")

    def commands_until(self, count):
        """The next ``count`` commands (waits as long as a loaded machine needs)."""
        start = len(self.commands)
        wait_for(lambda: len(self.commands) >= start + count, what=f"{count} commands")
        return self.commands[start:start + count]

    def commands_during(self, seconds):
        """Commands in a window in which teleop_node demonstrably ran: it ticked and got fresh
        joint states (an empty list means it chose to hold, not that it was dead)."""
        start, ticks = len(self.commands), self.teleop.ticks
        measured = self.teleop.driver.measured_time
        time.sleep(seconds)
        assert self.teleop.ticks >= ticks + 2, "teleop_node did not tick in the window"
        assert self.teleop.driver.measured_time > measured, "no joint states reached teleop_node"
        return self.commands[start:]

    def held(self):
        """Waits until teleop_node has let go of the arm and every command it sent before
        reached us: an event, not a time window a loaded machine can miss. Its ticks are
        serial, so none in flight can add a command after that."""
        wait_for(lambda: not self.teleop.driver.engaged, what="teleop_node to hold")
        sent = self.teleop.driver.safety.commands_sent
        wait_for(lambda: len(self.commands) >= sent, what="commands in flight")
        return sent


def start_operator(context, profile, **params):
    overrides = [Parameter(k, value=v) for k, v in {"profile": profile.name, **params}.items()]
    teleop_node = TeleopNode(context=context, parameter_overrides=overrides)
    op = Operator(context, profile, teleop_node)
    if params.get("use_sim_time"):
        op.sim_time = 1000.0
    return op


@pytest.fixture
def operator(rclpy_context, profile, request):
    op = start_operator(rclpy_context, profile, **getattr(request, "param", {}))
    teleop_node = op.teleop
    executor = SingleThreadedExecutor(context=rclpy_context)
    executor.add_node(teleop_node)
    executor.add_node(op)
    threading.Thread(target=executor.spin, daemon=True).start()
    deadline = time.monotonic() + 10
    while teleop_node.driver.measured is None or op.joy_pub.get_subscription_count() == 0:
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
    moving = operator.commands_until(5)
    assert all(np.all(np.isfinite(c)) and len(c) == profile.n_joints for c in moving)
    steps = [np.abs(b - a).max() for a, b in zip(moving, moving[1:], strict=False)]
    assert min(steps) > 0  # every command moves the arm on

    operator.set_joy({CFG.axis_z: 1.0})  # deadman released
    sent = operator.held()
    assert operator.commands_during(1.0) == []
    assert operator.teleop.driver.safety.commands_sent == sent

    operator.set_joy({CFG.axis_z: 1.0}, [CFG.deadman_button])
    operator.commands_until(3)
    operator.joy = None  # joystick unplugged while the deadman was held
    sent = operator.held()
    assert operator.commands_during(1.0) == []
    assert operator.teleop.driver.safety.commands_sent == sent


def test_start_button_calls_recorder(operator):
    operator.set_joy()
    operator.published(3)
    operator.set_joy(pressed=[CFG.start_button])
    operator.published(5)  # several messages with the button held: one press, one call
    operator.set_joy()
    wait_for(lambda: operator.starts >= 1, what="a call to the recorder's start")
    operator.published(5)
    assert operator.starts == 1


@pytest.mark.parametrize("operator", [{"use_sim_time": True}], indirect=True)
def test_joy_silence_is_measured_on_the_monotonic_clock(operator):
    """A simulated clock that jumps back (a sim reset) must not make the last held-deadman
    message look fresh: the joystick is silent, so teleop holds."""
    operator.set_joy({CFG.axis_z: 1.0}, [CFG.deadman_button])
    operator.commands_until(3)
    operator.joy = None  # the joystick goes quiet...
    operator.sim_time -= 500.0  # ...as the simulation resets its clock
    sent = operator.held()
    assert operator.teleop.driver.safety.commands_sent == sent
    assert "silent" in operator.teleop.mapper.tick(time.monotonic()).reason


def test_gripper_buttons_drive_the_gripper_controller(operator, profile):
    """The gripper's own command group (for xarm6_sim a Float64 topic of its own) gets the
    closing command; the arm's controller holds."""
    group = profile.grippers[0]
    slot = profile.slots(group)[0]
    home = np.array(profile.home)
    operator.set_joy(pressed=[CFG.deadman_button])
    operator.published(3)  # the first message is the buttons' baseline, not a press
    operator.set_joy(pressed=[CFG.deadman_button, CFG.gripper_close_button])
    operator.published(3)
    commands = operator.commands_until(3)
    toward_closed = np.sign(group.gripper.closed - home[slot])
    assert toward_closed * (commands[-1][slot] - home[slot]) > 0
    np.testing.assert_allclose(np.delete(commands[-1], slot), np.delete(home, slot), atol=1e-6)
    last = operator.robot.messages[group.topic][-1]
    sent = last.data if group.interface == "float64" else last.data[-1]
    assert toward_closed * (sent - home[slot]) > 0


@pytest.mark.parametrize("operator", [{"diagnostics_period_s": 0.2}], indirect=True)
def test_diagnostics_report_engaged_and_a_stale_joystick(operator, profile):
    reports = DiagnosticsReports(operator, "teleop_node: teleop")
    operator.set_joy(pressed=[CFG.deadman_button])
    status, values = reports.next(lambda s, v: v["engaged"] == "true", "engaged")
    assert status.level == DiagnosticStatus.OK and status.message == "engaged"
    assert float(values["joy_age_s"]) < CFG.joy_timeout_s
    assert status.hardware_id == profile.name

    operator.joy = None  # the joystick goes quiet with the deadman held
    status, values = reports.next(lambda s, v: float(v["joy_age_s"]) > CFG.joy_timeout_s,
                                  "a stale joystick")
    assert status.level == DiagnosticStatus.WARN and "/joy stale" in status.message
    assert values["engaged"] == "false"
    assert int(values["commands_sent"]) > 0
    assert values["ik_failures"] == "0"
