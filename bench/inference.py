"""Inference benchmark: onnxruntime (CPU) vs torch eager on the same policy, then the policy
node's observation-to-command latency over real DDS at the control rate.

    python bench/inference.py                       # every policy family, fresh random weights
    python bench/inference.py --policies act        # one family
    python bench/inference.py --model models/x/policy.onnx [--checkpoint ...]

With --model, torch eager needs the training checkpoint (default: checkpoint.safetensors beside
the model); without one only onnxruntime and the node are measured. In the node,
obs-to-command runs from the arrival of the observation behind a command to its publish; ticking
on a timer it includes the observation's wait for the tick (up to one joint-state period),
ticking on joint states (the default) it does not. tick-to-command is the node's own share. Each
tick source is one node run (--tick-on). Prints figures and a table; asserts nothing about
time.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from lam_ros.core.profile import RobotProfile, load_profile
from lam_ros.core.stats import percentiles_ms
from lam_ros.core.tick_schedule import TICK_SOURCES
from lam_ros.policy.card import PolicyCard
from lam_ros.policy.runtime import PolicyRuntime

CHECKPOINT = "checkpoint.safetensors"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="", help="policy.onnx (default: fresh random policies)")
    parser.add_argument("--policies", nargs="+", default=None,
                        help="families for fresh random policies (default: every family)")
    parser.add_argument("--checkpoint", default="", help="training checkpoint for torch eager")
    parser.add_argument("--profile", default="panda_sim")
    parser.add_argument("--runs", type=int, default=300, help="timed inferences per engine")
    parser.add_argument("--node-seconds", type=float, default=6.0,
                        help="wall seconds of closed-loop DDS traffic (0 skips the node part)")
    parser.add_argument("--joint-hz", type=float, default=100.0,
                        help="stand-in robot's joint_states rate")
    parser.add_argument("--camera-hz", type=float, default=30.0, help="stand-in camera rate")
    parser.add_argument("--tick-on", nargs="+", default=list(TICK_SOURCES), choices=TICK_SOURCES,
                        help="policy_node's tick sources to measure, one node run each")
    return parser.parse_args(argv)


def fresh_policy(family: str, profile: RobotProfile, out_dir: Path):
    """A ``family`` policy with random weights and its default config, exported with the real
    exporter."""
    from lam_ros.policy.export import export_policy, sample_inputs
    from lam_ros.policy.families import FeatureShapes, build_policy
    from lam_ros.policy.model import ExportedPolicy, Normalizer
    from lam_ros.policy.train_config import TrainConfig

    shapes = FeatureShapes.for_profile(profile, TrainConfig.chunk)  # training's default chunk
    wrapper = ExportedPolicy(build_policy(family, shapes, {}),
                             Normalizer(shapes.camera_names, profile.n_joints)).eval()
    card = PolicyCard.for_profile(profile, shapes.chunk)
    result = export_policy(wrapper, card, out_dir / f"{family}.onnx", sample_inputs(profile, 4),
                           {"bench": "random weights"})
    return result.model_path, wrapper


def torch_from_checkpoint(checkpoint: Path, card: PolicyCard):
    """The EMA policy and normalizer from a training checkpoint, wrapped as exported."""
    from lam_ros.policy.model import ExportedPolicy

    return ExportedPolicy.from_checkpoint(checkpoint, card)


def time_calls(call, samples: list[dict], runs: int) -> tuple[list[float], list[np.ndarray]]:
    for sample in samples[:10]:
        call(sample)  # warm-up: allocations, kernel selection
    durations, outputs = [], []
    for i in range(runs):
        sample = samples[i % len(samples)]
        start = time.perf_counter()
        out = call(sample)
        durations.append(time.perf_counter() - start)
        outputs.append(out)
    return durations, outputs


def compare_engines(runtime: PolicyRuntime, wrapper, profile: RobotProfile,
                    runs: int) -> dict[str, str]:
    """onnxruntime, then torch eager on the same inputs; returns the table's cells."""
    from lam_ros.core import features
    from lam_ros.policy.export import input_names, sample_inputs

    samples = sample_inputs(profile, 50, seed=1, history=runtime.history)
    cams = [c.name for c in runtime.card.cameras]

    def ort_call(sample):
        images = {c: sample[features.image_key(c)][0] for c in cams}
        past = [sample[features.STATE_HISTORY][0]] if runtime.history > 1 else []
        return runtime.predict(images, sample[features.STATE][0], *past)

    ort_s, ort_out = time_calls(ort_call, samples, runs)
    ort_ms = percentiles_ms(ort_s)
    print(f"onnxruntime {runtime.provider}: p50 {ort_ms['p50']:.3f} ms  "
          f"p99 {ort_ms['p99']:.3f} ms  ({runs} runs)")
    cells = {"onnxruntime p50 / p99 ms": f"{ort_ms['p50']:.2f} / {ort_ms['p99']:.2f}",
             "torch eager p50 / p99 ms": "—"}
    if wrapper is None:
        print("torch eager: skipped (no checkpoint; pass --checkpoint)")
        return cells
    import torch

    names = input_names(wrapper)

    def torch_call(sample):
        with torch.inference_mode():
            return wrapper(*(torch.from_numpy(sample[n]) for n in names))[0].double().numpy()

    torch_s, torch_out = time_calls(torch_call, samples, runs)
    torch_ms = percentiles_ms(torch_s)
    diff = max(float(np.abs(a - b).max()) for a, b in zip(ort_out, torch_out, strict=True))
    print(f"torch eager ({torch.get_num_threads()} threads): p50 {torch_ms['p50']:.3f} ms  "
          f"p99 {torch_ms['p99']:.3f} ms")
    print(f"torch/onnxruntime p50 ratio {torch_ms['p50'] / ort_ms['p50']:.2f}x, "
          f"p99 ratio {torch_ms['p99'] / ort_ms['p99']:.2f}x; "
          f"max |onnxruntime - torch| {diff:.2e} (robot units)")
    cells["torch eager p50 / p99 ms"] = f"{torch_ms['p50']:.2f} / {torch_ms['p99']:.2f}"
    return cells


def node_latency(model: Path, profile_name: str, seconds: float, joint_hz: float,
                 camera_hz: float, tick_on: str) -> dict[str, str]:
    """policy_node as a process fed by a stand-in robot, ticking on ``tick_on``; returns the
    table's cells."""
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from sensor_msgs.msg import Image
    from std_srvs.srv import SetBool

    from lam_ros.core import commands
    from lam_ros.launcher import NodeGroup, NodeSpec
    from lam_ros.ros import qos
    from lam_ros.ros.command_publisher import MESSAGE_CLASSES
    from lam_ros.ros.convert import rgb_to_image
    from lam_ros.ros.joint_states import JointStatePublisher

    profile = load_profile(profile_name)
    reports: list[dict[str, str]] = []
    spec = NodeSpec("policy_node", params={"model": str(model.resolve()), "profile": profile_name,
                                           "diagnostics_period_s": 1.0, "tick_on": tick_on})
    with NodeGroup([spec]) as group:
        rclpy.init()
        node = Node("bench_robot")
        joints = JointStatePublisher(node, profile, list(profile.joint_names))
        # A position-controlled robot: it reports what it was last commanded, so the safety
        # filter finds it where the policy sent it and every tick can send.
        positions = np.array(profile.home, dtype=float)

        def follow(group, msg):
            command = commands.decode(group, msg)
            index = [profile.joint_names.index(j) for j in command.joint_names]
            positions[index] = command.points[-1][1]

        for group in profile.command_groups:
            node.create_subscription(MESSAGE_CLASSES[group.interface], group.topic,
                                     lambda msg, g=group: follow(g, msg), qos.COMMAND)
        cams = {c: node.create_publisher(Image, c.topic, qos.SENSOR) for c in profile.cameras}
        frames = {c: np.random.default_rng(2).integers(0, 256, (c.height, c.width, 3), np.uint8)
                  for c in profile.cameras}

        def publish_joints():
            stamp = node.get_clock().now().to_msg()
            joints.publish(positions.copy(), None, stamp)

        def publish_frames():
            stamp = node.get_clock().now().to_msg()
            for camera, pub in cams.items():
                pub.publish(rgb_to_image(frames[camera], stamp, camera.name))

        node.create_timer(1.0 / joint_hz, publish_joints)
        node.create_timer(1.0 / camera_hz, publish_frames)
        node.create_subscription(DiagnosticArray, "/diagnostics", lambda m: reports.extend(
            {kv.key: kv.value for kv in s.values} for s in m.status
            if "policy_node" in s.name), 10)
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        spinner = threading.Thread(target=executor.spin, daemon=True)
        spinner.start()
        try:
            enable = node.create_client(SetBool, "/policy_node/enable")
            if not enable.wait_for_service(timeout_sec=30):
                print(f"policy_node did not come up:\n{group.log('policy_node')}")
                return {}
            enable.call_async(SetBool.Request(data=True))
            time.sleep(seconds)
        finally:
            executor.shutdown()
            spinner.join(timeout=5)
            node.destroy_node()
            rclpy.try_shutdown()
    if not reports:
        print(f"no /diagnostics from policy_node:\n{group.log('policy_node')}")
        return {}
    last = reports[-1]

    def pair(name: str) -> str:
        return f"{float(last[f'{name}_p50_ms']):.2f} / {float(last[f'{name}_p99_ms']):.2f}"

    print(f"policy_node ticking on {tick_on}, over DDS at {profile.control_hz:g} Hz for "
          f"{seconds:g} s, joint states "
          f"{joint_hz:g} Hz, cameras {camera_hz:g} Hz (provider {last['provider']}, inference "
          f"{last['inference_mode']}): obs-to-command p50/p99 {pair('obs_to_command')} ms; "
          f"tick-to-command {pair('tick_to_command')} ms; inference {pair('inference')} ms; "
          f"tick interval {pair('tick_interval')} ms (period {profile.control_period * 1e3:g} "
          f"ms); achieved {last['achieved_rate_hz']} Hz; commands {last['commands_sent']}; "
          f"deadline misses {last['inference_deadline_misses']}")
    print("faults: " + json.dumps({k: v for k, v in last.items() if k.startswith("faults.")}))
    return {f"{tick_on}: node inference p50 / p99 ms": pair("inference"),
            f"{tick_on}: obs-to-command p50 / p99 ms": pair("obs_to_command"),
            f"{tick_on}: tick-to-command p50 / p99 ms": pair("tick_to_command"),
            f"{tick_on}: tick interval p50 / p99 ms": pair("tick_interval"),
            "inference": last["inference_mode"]}


def print_table(rows: dict[str, dict[str, str]]) -> None:
    columns = list(dict.fromkeys(k for cells in rows.values() for k in cells))
    print("\n| policy | " + " | ".join(columns) + " |")
    print("| --- " * (len(columns) + 1) + "|")
    for name, cells in rows.items():
        print(f"| {name} | " + " | ".join(cells.get(c, "—") for c in columns) + " |")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    os.environ.setdefault("ROS_DOMAIN_ID", str(20 + os.getpid() % 20))  # 20..39: not tests' ids
    profile = load_profile(args.profile)
    rows: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory(prefix="lam_ros_bench_") as tmp:
        for name, model, wrapper in policies(args, profile, Path(tmp)):
            print(f"\n== {name}")
            runtime = PolicyRuntime(model, profile, providers=("CPUExecutionProvider",))
            rows[name] = compare_engines(runtime, wrapper, profile, args.runs)
            for tick_on in args.tick_on if args.node_seconds > 0 else ():
                rows[name].update(node_latency(model, args.profile, args.node_seconds,
                                               args.joint_hz, args.camera_hz, tick_on))
    print_table(rows)
    return 0


def policies(args: argparse.Namespace, profile: RobotProfile, tmp: Path):
    """(name, policy.onnx, torch wrapper or None) for --model or each fresh family."""
    if args.model:
        model = Path(args.model)
        checkpoint = Path(args.checkpoint or model.with_name(CHECKPOINT))
        card = PolicyRuntime(model, profile, providers=("CPUExecutionProvider",)).card
        yield model.parent.name, model, (torch_from_checkpoint(checkpoint, card)
                                         if checkpoint.is_file() else None)
        return
    from lam_ros.policy.families import FAMILIES

    for family in args.policies or FAMILIES:
        model, wrapper = fresh_policy(family, profile, tmp)
        yield f"{family} (random weights)", model, wrapper


if __name__ == "__main__":
    sys.exit(main())
