"""Episode buttons against the real recorder_node (its own process, over DDS): every sequence of
presses a person can make leaves teleop_node and the recorder running, and the bags on disk are
the ones the presses asked for. teleop_node runs in-process so the test reads what it logged."""

import json
import random
import threading
import time

import pytest
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import Joy
from std_msgs.msg import String
from waiting import wait_for

from lam_ros.core import teleop
from lam_ros.core.teleop import TeleopConfig
from lam_ros.launcher import NodeGroup, NodeSpec
from lam_ros.nodes.teleop_node import TeleopNode
from lam_ros.ros import qos

pytestmark = pytest.mark.ros
CFG = TeleopConfig()
BUTTONS = {teleop.START: CFG.start_button, teleop.STOP_SUCCESS: CFG.stop_success_button,
           teleop.STOP_FAILURE: CFG.stop_failure_button, teleop.DISCARD: CFG.discard_button}
TASK = "buttons"


class Pad(Node):
    """The joystick (sensor_msgs/Joy on /joy) and a reader of the recorder's status."""

    def __init__(self, context):
        super().__init__("button_test_pad", context=context)
        self.joy_pub = self.create_publisher(Joy, "/joy", 10)
        self.status: dict = {}
        self.create_subscription(String, "/recorder_node/status",
                                 lambda m: setattr(self, "status", json.loads(m.data)),
                                 qos.STATUS)

    def send(self, *pressed):
        msg = Joy(axes=[0.0] * 6, buttons=[0] * 15)
        for index in pressed:
            msg.buttons[index] = 1
        self.joy_pub.publish(msg)

    def press(self, button, held_messages=1):
        for _ in range(held_messages):
            self.send(button)
        self.send()


class Spinner:
    """Spins nodes in a thread and keeps the exception that would have killed the process."""

    def __init__(self, context, *nodes):
        self.executor = SingleThreadedExecutor(context=context)
        for node in nodes:
            self.executor.add_node(node)
        self.error = None
        self.thread = threading.Thread(target=self._spin, daemon=True)
        self.thread.start()

    def _spin(self):
        try:
            self.executor.spin()
        except Exception as exc:  # what would end teleop_node's process
            self.error = exc

    def assert_alive(self):
        assert self.error is None, f"teleop_node died: {self.error!r}"
        assert self.thread.is_alive()


class Bench:
    def __init__(self, context, data_root):
        self.data_root = data_root
        self.recorder = NodeGroup([NodeSpec("recorder_node", params={
            "data_root": str(data_root), "task": TASK, "status_period_s": 0.2,
            "profile": "panda_sim"})])
        self.recorder.start()
        self.teleop = TeleopNode(context=context,
                                 parameter_overrides=[Parameter("profile", value="panda_sim")])
        self.pad = Pad(context)
        self.spinner = Spinner(context, self.teleop, self.pad)
        self.wait_for_recorder()
        wait_for(lambda: self.pad.joy_pub.get_subscription_count() > 0, what="/joy match")
        self.pad.send()  # the first message only sets the button baseline
        self.expected_recording = False
        self.expected_kept = 0

    def wait_for_recorder(self):
        client = self.teleop.recorder[teleop.START][0]
        wait_for(client.service_is_ready, timeout=60, what="the recorder's services")
        wait_for(lambda: self.pad.status.get("recording") is False, timeout=30,
                 what="the recorder's status")

    def episodes(self):
        task_dir = self.data_root / TASK
        return sorted(task_dir.glob("episode_*")) if task_dir.exists() else []

    def press_and_wait(self, event, held_messages=1):
        """One press, then its answer; keeps the model of what the recorder should hold."""
        before = len(self.teleop.episode_log)
        self.pad.press(BUTTONS[event], held_messages)
        wait_for(lambda: len(self.teleop.episode_log) > before or self.spinner.error,
                 what=f"an answer to {event}")
        self.spinner.assert_alive()
        assert len(self.teleop.episode_log) == before + 1, self.teleop.episode_log[before:]
        logged, accepted, message = self.teleop.episode_log[-1]
        assert logged == event
        expect = (not self.expected_recording) if event == teleop.START else (
            self.expected_recording)
        assert accepted == expect, (event, message)
        if accepted:
            self.expected_kept += event in (teleop.STOP_SUCCESS, teleop.STOP_FAILURE)
            self.expected_recording = event == teleop.START
        return accepted, message

    def settle(self):
        """Waits until teleop_node has answered every press sent so far: no call in flight and
        nothing new logged for half a second."""
        while True:
            logged = len(self.teleop.episode_log)
            time.sleep(0.5)
            if self.teleop.calls.pending is None and len(self.teleop.episode_log) == logged:
                return

    def check_disk(self):
        assert len(self.episodes()) == self.expected_kept + self.expected_recording

    def check_alive(self):
        self.spinner.assert_alive()
        assert not self.recorder.dead(), self.recorder.exit_reasons()

    def close(self):
        self.spinner.executor.shutdown()
        self.teleop.destroy_node()
        self.pad.destroy_node()
        self.recorder.stop()


@pytest.fixture
def bench(rclpy_context, tmp_path):
    b = Bench(rclpy_context, tmp_path / "data")
    yield b
    b.close()


def test_double_presses_and_presses_with_no_episode(bench):
    for event in (teleop.STOP_SUCCESS, teleop.DISCARD, teleop.STOP_FAILURE):  # nothing to stop
        accepted, message = bench.press_and_wait(event)
        assert "not recording" in message
    bench.press_and_wait(teleop.START)
    bench.press_and_wait(teleop.START)  # start while recording: refused
    bench.press_and_wait(teleop.STOP_SUCCESS)
    accepted, message = bench.press_and_wait(teleop.STOP_SUCCESS)  # the double press
    assert not accepted and "not recording" in message
    bench.press_and_wait(teleop.START, held_messages=6)  # held down: one press
    bench.press_and_wait(teleop.DISCARD)
    bench.check_alive()
    bench.check_disk()
    assert bench.expected_kept == 1


def test_generated_presses_with_deadman_toggles(bench):
    rng = random.Random(1707)
    events = list(BUTTONS)
    for _ in range(30):
        if rng.random() < 0.3:  # the deadman toggled fast between presses: no episode event
            for _ in range(rng.randint(1, 4)):
                bench.pad.send(CFG.deadman_button)
                bench.pad.send()
        bench.press_and_wait(rng.choice(events), held_messages=rng.randint(1, 3))
    bench.check_alive()
    bench.check_disk()


def test_fast_presses_and_a_restarting_recorder(bench):
    rng = random.Random(42)
    events = list(BUTTONS)
    for _ in range(40):  # no waiting: presses overtake the recorder's answers
        bench.pad.press(BUTTONS[rng.choice(events)])
    bench.settle()
    bench.check_alive()
    log = bench.teleop.episode_log
    accepted = [e for e, ok, _ in log if ok]
    kept = sum(e in (teleop.STOP_SUCCESS, teleop.STOP_FAILURE) for e in accepted)
    recording = bool(accepted) and accepted[-1] == teleop.START
    assert len(bench.episodes()) == kept + recording

    bench.recorder.stop()  # SIGINT: an open episode is closed as failed and kept
    start_client = bench.teleop.recorder[teleop.START][0]
    wait_for(lambda: not start_client.service_is_ready(), what="the recorder to leave the graph")
    before = len(log)
    bench.pad.press(CFG.start_button)
    wait_for(lambda: len(log) > before, what="a refusal while the recorder is gone")
    assert "not available" in bench.teleop.episode_log[-1][2]
    bench.spinner.assert_alive()

    bench.recorder.start()
    bench.pad.status = {}
    bench.wait_for_recorder()
    kept = len(bench.episodes())
    bench.expected_kept, bench.expected_recording = kept, False
    for event in (teleop.START, teleop.STOP_FAILURE, teleop.STOP_FAILURE):
        bench.press_and_wait(event)
    bench.check_alive()
    bench.check_disk()
    assert len(bench.episodes()) == kept + 1
