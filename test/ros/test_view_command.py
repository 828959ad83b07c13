"""`lam-ros view --robot` over real DDS and a real WebSocket: what Foxglove receives.

The viewer runs as a subprocess on a free loopback port; this test publishes a JointState and
an Image the way a robot does and connects as Foxglove does (``foxglove_client.py``): the topics
are advertised with their ROS 2 schemas, and a subscribed channel delivers the message as sent,
timed by its header stamp, with the joint positions by name beside it.
"""

import json
import re
import subprocess
import sys
import threading

import numpy as np
import pytest
from foxglove_client import FoxgloveClient
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import Image, JointState

from lam_ros.data.episode_bag import TYPESTORE
from lam_ros.ros import qos

pytestmark = pytest.mark.ros

STAMP = (12, 345)  # header stamp (s, ns) of every published message
STAMP_NS = STAMP[0] * 1_000_000_000 + STAMP[1]
PIXELS = np.arange(2 * 4 * 3, dtype=np.uint8)  # a 4x2 rgb8 image


def start_view() -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([sys.executable, "-m", "lam_ros.cli", "view", "--robot", "panda_sim",
                             "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    line = proc.stdout.readline()
    found = re.search(r"ws://127\.0\.0\.1:(\d+)", line)
    assert found, f"no address printed: {line!r} {proc.stderr.read() if not line else ''}"
    return proc, int(found.group(1))


def robot_messages(node: Node) -> None:
    """A joint state and a camera image at 20 Hz, until the node is destroyed."""
    stamp = node.get_clock().now().to_msg()
    stamp.sec, stamp.nanosec = STAMP
    joints = JointState(name=["panda_joint1", "panda_finger_joint1"], position=[0.25, -0.5])
    joints.header.stamp = stamp
    image = Image(height=2, width=4, encoding="rgb8", step=12, data=PIXELS.tobytes())
    image.header.stamp = stamp
    joint_pub = node.create_publisher(JointState, "/joint_states", qos.SENSOR)
    image_pub = node.create_publisher(Image, "/front/image_raw", qos.SENSOR)
    node.create_timer(0.05, lambda: (joint_pub.publish(joints), image_pub.publish(image)))


def test_live_view_advertises_and_forwards_joint_states_and_images(rclpy_context):
    proc, port = start_view()
    node = Node("robot_stand_in", context=rclpy_context)
    robot_messages(node)
    executor = SingleThreadedExecutor(context=rclpy_context)
    executor.add_node(node)
    threading.Thread(target=executor.spin, daemon=True).start()
    client = FoxgloveClient(port)
    try:
        client.wait_for_channels({"/joint_states", "/joint_states/by_name", "/front/image_raw"})
        assert client.channels["/joint_states"]["schemaName"] == "sensor_msgs/msg/JointState"
        image_channel = client.channels["/front/image_raw"]
        assert (image_channel["encoding"], image_channel["schemaEncoding"]) == ("cdr", "ros2msg")
        assert "uint8[] data" in image_channel["schema"]

        client.subscribe("/joint_states/by_name", "/front/image_raw")
        received = client.first_messages()
        log_ns, payload = received["/joint_states/by_name"]
        assert log_ns == STAMP_NS
        assert json.loads(payload) == {"panda_joint1": 0.25, "panda_finger_joint1": -0.5}
        log_ns, payload = received["/front/image_raw"]
        image = TYPESTORE.deserialize_cdr(payload, "sensor_msgs/msg/Image")
        assert log_ns == STAMP_NS
        assert (image.width, image.height, image.encoding) == (4, 2, "rgb8")
        np.testing.assert_array_equal(image.data, PIXELS)
    finally:
        client.close()
        proc.terminate()
        proc.wait(timeout=15)
        executor.shutdown()
        node.destroy_node()
