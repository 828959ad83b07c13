"""`lam-ros launch sim|record|policy`: the node sets of launch/*.launch.py, without ros2 launch.

On a machine with a ROS 2 distribution, prefer `ros2 launch lam_ros <set>.launch.py`; a test keeps
the two in step (same executables, same parameter files).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from lam_ros.core.paths import config_dir, models_dir
from lam_ros.launcher import NodeGroup, NodeSpec
from lam_ros.sim.config import SIM_PROFILE


def _params_file(name: str) -> list[str]:
    return [str(config_dir() / name)]


def node_sets(args: argparse.Namespace) -> list[NodeSpec]:
    """The nodes `lam-ros launch <set>` starts, as the matching launch file does."""
    robot = {"profile": args.robot or (SIM_PROFILE if args.set == "sim" else "")}
    task = {"task": args.task}
    sim = [NodeSpec("sim_node", params={**robot, **task}, params_files=_params_file("sim.yaml"))]
    if args.set == "sim":
        expert = [NodeSpec("expert_node", params={**robot, **task}, use_sim_time=True)
                  ] if args.expert else []
        return sim + expert
    with_sim = sim if args.sim else []
    if args.set == "record":
        return [
            NodeSpec("teleop_node", params=robot, params_files=_params_file("teleop.yaml"),
                     use_sim_time=args.sim),
            NodeSpec("recorder_node", params={**robot, "data_root": args.data, "task": args.task},
                     params_files=_params_file("recorder.yaml"), use_sim_time=args.sim),
        ] + with_sim
    return [NodeSpec("policy_node", params={**robot, "model": args.model},
                     params_files=_params_file("policy.yaml"), use_sim_time=args.sim)] + with_sim


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("set", choices=["sim", "record", "policy"])
    parser.add_argument("--robot", default="",
                        help="robot profile name or YAML path (required for record and "
                             f"policy; the sim set defaults to the simulated {SIM_PROFILE})")
    parser.add_argument("--sim", action="store_true", help="also start the simulator")
    parser.add_argument("--expert", action="store_true", help="sim: also start the expert")
    parser.add_argument("--data", default="lam_data", help="record: bag folder")
    parser.add_argument("--task", default="pick_place",
                        help="task name: record's bag folder, and the simulated task with the "
                             "simulator (pick_place, pick_place_random, stack, insertion)")
    parser.add_argument("--model", default=str(models_dir() / "demo" / "policy.onnx"),
                        help="policy: ONNX file (default: the shipped demo policy)")


def run(args: argparse.Namespace) -> int:
    """Runs the set until Ctrl-C, SIGTERM or SIGHUP, or until any node exits: then the others are
    stopped too (SIGINT first, so the recorder closes an open episode as failed)."""
    if args.set != "sim" and not args.robot:
        print(f"error: lam-ros launch {args.set} needs --robot <profile> (no robot is implied; "
              f"--robot {SIM_PROFILE} for the simulated robot)", file=sys.stderr)
        return 2
    if args.set == "record":
        print("note: start the joystick driver yourself (ros2 run joy joy_node); "
              "it comes with a ROS 2 distribution")
    group = NodeGroup(node_sets(args), console=True, env={"PYTHONUNBUFFERED": "1"})
    try:
        group.start()
        print(f"lam-ros launch {args.set}: started {', '.join(group.procs)} "
              f"(ROS_DOMAIN_ID={os.environ.get('ROS_DOMAIN_ID', '0')}); Ctrl-C stops")
        while not group.dead():
            time.sleep(0.2)
        print(f"error: {group.exit_reasons()}; stopping the other nodes", file=sys.stderr)
        return 1
    finally:
        group.stop()
