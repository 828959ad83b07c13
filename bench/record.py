"""Recorder throughput: 3 cameras 640x480 rgb8 at 30 Hz + joint states at 500 Hz, published from
another process into recorder_node for --duration seconds.

Prints recorded/published per topic (the bar: 100%), the recorder's MB/s and CPU use, and the
MB/s of a bare rosbags MCAP writer on the same payloads in the same run, as a ratio.

    lam-ros bench record [--duration 30]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

CAMERAS = ("cam0", "cam1", "cam2")
WIDTH, HEIGHT, CAMERA_HZ, JOINT_HZ = 640, 480, 30.0, 500.0
JOINT_TOPIC = "/joint_states"


def camera_topic(name: str) -> str:
    return f"/{name}/image_raw"


def bench_profile(path: Path) -> Path:
    """panda_sim with three 640x480 cameras."""
    from lam_ros.core.paths import robots_dir

    data = yaml.safe_load((robots_dir() / "panda_sim.yaml").read_text())
    data["name"] = "panda_bench"
    data["cameras"] = [{"name": c, "topic": camera_topic(c), "encoding": "rgb8",
                        "width": WIDTH, "height": HEIGHT} for c in CAMERAS]
    path.write_text(yaml.safe_dump(data))
    return path


# --- the publishing process ------------------------------------------------------------------
def publish(duration_s: float) -> None:
    import numpy as np
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image, JointState

    from lam_ros.ros.convert import rgb_to_image

    rclpy.init()
    node = rclpy.create_node("bench_publisher")
    # Reliable, with about 2 s (joints) and 3 s (images) of history to repair a lost sample from.
    joints = node.create_publisher(JointState, JOINT_TOPIC, QoSProfile(
        depth=1000, reliability=ReliabilityPolicy.RELIABLE))
    cams = {c: node.create_publisher(Image, camera_topic(c), QoSProfile(
        depth=100, reliability=ReliabilityPolicy.RELIABLE)) for c in CAMERAS}
    frames = {c: rgb_to_image(np.random.default_rng(i).integers(0, 255, (HEIGHT, WIDTH, 3),
                                                                dtype=np.uint8),
                              node.get_clock().now().to_msg(), c)
              for i, c in enumerate(CAMERAS)}
    state = JointState(name=[f"panda_joint{i}" for i in range(1, 8)] + ["panda_finger_joint1"],
                       position=[0.0] * 8)
    deadline = time.monotonic() + 30
    while any(p.get_subscription_count() == 0 for p in [joints, *cams.values()]):
        if time.monotonic() > deadline:
            sys.exit("recorder did not subscribe within 30 s")
        time.sleep(0.05)
    sys.stdin.readline()  # the measuring process says go once the episode has started
    counts = {JOINT_TOPIC: 0, **{camera_topic(c): 0 for c in CAMERAS}}
    start = time.monotonic()
    tick, next_frame = 0, 0.0
    while (elapsed := time.monotonic() - start) < duration_s:
        stamp = node.get_clock().now().to_msg()
        state.header.stamp = stamp
        joints.publish(state)
        counts[JOINT_TOPIC] += 1
        if elapsed >= next_frame:
            for c, frame in frames.items():
                frame.header.stamp = stamp
                cams[c].publish(frame)
                counts[camera_topic(c)] += 1
            next_frame += 1.0 / CAMERA_HZ
        tick += 1
        time.sleep(max(0.0, start + tick / JOINT_HZ - time.monotonic()))
    counts["_elapsed_s"] = time.monotonic() - start
    print(json.dumps(counts), flush=True)
    node.destroy_node()
    rclpy.shutdown()


# --- the measuring process -------------------------------------------------------------------
def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def bare_writer_mb_s(published: dict[str, int], work_dir: Path) -> float:
    """A rosbags MCAP writer alone, on the same serialized payloads and counts."""
    import numpy as np
    from rclpy.serialization import serialize_message
    from sensor_msgs.msg import JointState

    from lam_ros.data.bag_writer import EpisodeWriter, TopicSpec
    from lam_ros.ros.convert import rgb_to_image, sec_to_stamp

    image = serialize_message(rgb_to_image(np.zeros((HEIGHT, WIDTH, 3), np.uint8),
                                           sec_to_stamp(1.0), "cam"))
    joint = serialize_message(JointState(name=["j"] * 8, position=[0.0] * 8))
    topics = [TopicSpec(JOINT_TOPIC, "sensor_msgs/msg/JointState")] + [
        TopicSpec(camera_topic(c), "sensor_msgs/msg/Image") for c in CAMERAS]
    writer = EpisodeWriter(work_dir / "bare", topics, {}).open()
    start, total, t = time.perf_counter(), 0, 0
    per_frame = max(1, published[JOINT_TOPIC] // max(1, published[camera_topic(CAMERAS[0])]))
    for i in range(published[JOINT_TOPIC]):
        t += 2_000_000
        writer.write(JOINT_TOPIC, joint, t)
        total += len(joint)
        if i % per_frame == 0:
            for c in CAMERAS:
                writer.write(camera_topic(c), image, t)
                total += len(image)
    writer.close()
    return total / 2**20 / (time.perf_counter() - start)


class Control:
    """Start/stop and status of the recorder, from this process."""

    def __init__(self):
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from std_msgs.msg import String
        from std_srvs.srv import SetBool, Trigger

        from lam_ros.ros import qos

        rclpy.init()
        self.node = rclpy.create_node("bench_control")
        self.status: dict = {}
        self.node.create_subscription(String, "/recorder_node/status",
                                      lambda m: setattr(self, "status", json.loads(m.data)),
                                      qos.STATUS)
        self.start = self.node.create_client(Trigger, "/recorder_node/start")
        self.stop = self.node.create_client(SetBool, "/recorder_node/stop")
        self.requests = {"start": Trigger.Request(), "stop": SetBool.Request(data=True)}
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        threading.Thread(target=self.executor.spin, daemon=True).start()

    def call(self, name: str) -> str:
        client = getattr(self, name)
        if not client.wait_for_service(timeout_sec=30):
            sys.exit(f"{client.srv_name} not available")
        future = client.call_async(self.requests[name])
        while not future.done():
            time.sleep(0.01)
        if not future.result().success:
            sys.exit(f"{name} failed: {future.result().message}")
        return future.result().message

    def wait_topics(self, topics: set[str]) -> None:
        deadline = time.monotonic() + 30
        while not topics <= set(self.status.get("topics", ())):
            if time.monotonic() > deadline:
                sys.exit(f"recorder did not subscribe to {topics}: {self.status}")
            time.sleep(0.1)

    def wait_drained(self, published: dict[str, int], timeout_s: float = 90.0) -> None:
        """Until everything published is written, or nothing arrives for 10 s."""
        last, still_since, deadline = None, time.monotonic(), time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            counts = self.status.get("counts", {})
            if all(counts.get(t, 0) >= n for t, n in published.items()):
                return
            if counts != last:
                last, still_since = counts, time.monotonic()
            elif time.monotonic() - still_since > 10.0:
                return
            time.sleep(0.1)


def measure(duration_s: float) -> None:
    from lam_ros.core.paths import config_dir
    from lam_ros.data.bag_info import read_episode_info
    from lam_ros.launcher import NodeGroup, NodeSpec

    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    # Both processes (children inherit it): images travel in shared memory, see the XML.
    os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE",
                          str(config_dir() / "fastdds_recording.xml"))
    print(f"FASTDDS_DEFAULT_PROFILES_FILE={os.environ['FASTDDS_DEFAULT_PROFILES_FILE']}")
    with tempfile.TemporaryDirectory(prefix="lam_ros_bench_record_") as tmp:
        work = Path(tmp)
        profile = bench_profile(work / "panda_bench.yaml")
        spec = NodeSpec("recorder_node", params={"data_root": str(work / "data"),
                                                 "profile": str(profile), "task": "bench"})
        with NodeGroup([spec], log_dir=work / "logs") as group:
            control = Control()
            publisher = subprocess.Popen([sys.executable, __file__, "--publish",
                                          "--duration", str(duration_s)],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         text=True)
            control.wait_topics({JOINT_TOPIC, *(camera_topic(c) for c in CAMERAS)})
            episode_dir = Path(control.call("start"))
            recorder_pid = group.procs["recorder_node"].pid
            cpu0, wall0 = cpu_seconds(recorder_pid), time.monotonic()
            out, _ = publisher.communicate("go\n", timeout=duration_s + 120)
            cpu = cpu_seconds(recorder_pid) - cpu0
            wall = time.monotonic() - wall0
            published = json.loads(out.strip().splitlines()[-1])
            elapsed = published.pop("_elapsed_s")
            control.wait_drained(published)
            result = json.loads(control.call("stop"))
            print(f"recorder log tail:\n{group.log('recorder_node')[-600:]}")
        info = read_episode_info(episode_dir)
        bag_mb = sum(f.stat().st_size for f in episode_dir.iterdir()) / 2**20
        bare = bare_writer_mb_s(published, work)
    report(published, info, result, bag_mb, elapsed, cpu, wall, bare)


def report(published, info, result, bag_mb, elapsed, cpu, wall, bare) -> None:
    print(f"\npublished for {elapsed:.1f} s: 3 x {WIDTH}x{HEIGHT} rgb8 @ {CAMERA_HZ:.0f} Hz + "
          f"joint states @ {JOINT_HZ:.0f} Hz (reliable QoS), from another process")
    for topic, sent in sorted(published.items()):
        kept = info.topics.get(topic, ("", 0))[1]
        gap = info.health.get(topic, {}).get("max_gap_s", 0.0)
        print(f"  {topic:<20} recorded {kept:>6} / published {sent:>6} = "
              f"{100.0 * kept / max(1, sent):6.2f} %  (largest gap {1000 * gap:.0f} ms)")
    recorder_mb_s = bag_mb / elapsed
    print(f"recorder: {bag_mb:.0f} MB in {elapsed:.1f} s = {recorder_mb_s:.1f} MB/s; "
          f"CPU {cpu:.1f} s while publishing ({wall:.1f} s wall) = {100 * cpu / wall:.0f} % "
          f"of one core")
    print(f"bare rosbags MCAP writer, same payloads: {bare:.0f} MB/s "
          f"(recorder needs {100 * recorder_mb_s / bare:.0f} % of it)")
    print(f"recorder stop reply: {result['episode_dir']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of publishing")
    parser.add_argument("--publish", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    (publish if args.publish else measure)(args.duration)


if __name__ == "__main__":
    main()
