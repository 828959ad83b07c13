"""`lam-ros joy` over real DDS: kernel joystick events in, sensor_msgs/Joy out.

The device is a FIFO carrying the byte stream ``/dev/input/jsN`` delivers (8-byte js_event
records): this machine has no gamepad and no /dev/uinput to create a virtual one, so the kernel
side is the one seam faked here, at its own interface.
"""

import os
import subprocess
import sys
import threading
import time

import pytest
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import Joy
from waiting import wait_for

from lam_ros.core.gamepad import AXIS, BUTTON, EVENT, INIT

pytestmark = pytest.mark.ros


def js_events(*items) -> bytes:
    return b"".join(EVENT.pack(0, value, kind, number) for kind, number, value in items)


def start_joy(device) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "lam_ros.cli", "joy", "--device", str(device),
                             "--rate", "20"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def test_gamepad_events_become_joy_messages_and_a_lost_pad_ends_it(tmp_path, rclpy_context):
    fifo = tmp_path / "js0"
    os.mkfifo(fifo)
    proc = start_joy(fifo)
    node = Node("joy_listener", context=rclpy_context)
    received = []
    node.create_subscription(Joy, "/joy", received.append, 10)
    executor = SingleThreadedExecutor(context=rclpy_context)
    executor.add_node(node)
    threading.Thread(target=executor.spin, daemon=True).start()
    try:
        with open(fifo, "wb", buffering=0) as pad:  # opens once lam-ros joy opened its end
            pad.write(js_events((BUTTON | INIT, 4, 0), (AXIS | INIT, 1, 0)))
            wait_for(lambda: received, timeout=30.0, what="a first Joy message")
            pad.write(js_events((BUTTON, 4, 1), (AXIS, 1, -32767)))  # LB held, stick up
            wait_for(lambda: received[-1].buttons[9] == 1 and received[-1].axes[1] > 0.99,
                     what="the deadman and the stick on /joy")
            count = len(received)
            time.sleep(0.5)  # nothing changes: the state is sent again at the autorepeat rate
            assert len(received) >= count + 5
            assert received[-1].buttons[9] == 1 and len(received[-1].axes) == 6
        # The writer closed: the pad is gone, the command says so and exits 1.
        assert proc.wait(timeout=15) == 1
        assert "went away" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
        executor.shutdown()
        node.destroy_node()


def test_a_missing_device_is_named():
    proc = start_joy("/dev/input/js_does_not_exist")
    assert proc.wait(timeout=30) == 2
    assert "/dev/input/js_does_not_exist" in proc.stderr.read()
