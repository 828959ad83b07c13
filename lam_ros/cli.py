"""lam-ros: record demonstrations, train, evaluate in simulation and run policies with ROS 2.

Each subcommand lives in its own module, which provides ``add_arguments(parser)`` and
``run(args) -> int``; this file is only the table.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from lam_ros.launcher import stop_on_hangup_and_term

# (command, module, help). Modules are imported only when their command runs, so `lam-ros --help`
# stays fast and a command's heavy dependencies (torch, pybullet) load only when needed.
COMMANDS = [
    ("demo", "lam_ros.commands.demo", "record, train, export and evaluate the demo policy"),
    ("sim-check", "lam_ros.sim.check", "scripted expert success rate in the simulator (no ROS)"),
    ("record-sim", "lam_ros.commands.record_sim",
     "record episodes in simulation via ROS (scripted expert or a joystick person)"),
    ("joy", "lam_ros.commands.joy", "publish a Linux gamepad on /joy (no ROS distro needed)"),
    ("view", "lam_ros.commands.view", "show a running graph or recorded bags in Foxglove"),
    ("bag", "lam_ros.commands.bag", "inspect or repair recorded episode bags"),
    ("train", "lam_ros.policy.train_cli", "train a policy from episode bags and export ONNX"),
    ("export", "lam_ros.commands.export", "write episode bags as a dataset for another trainer"),
    ("evaluate", "lam_ros.commands.evaluate", "closed-loop evaluation in simulation via ROS"),
    ("improve", "lam_ros.commands.improve",
     "learn from corrections: a simulated person corrects the policy, retrain, evaluate"),
    ("launch", "lam_ros.commands.launch", "start a node set (sim, record, policy) without ros2"),
    ("bench", "lam_ros.commands.bench", "run a benchmark from bench/"),
]


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lam-ros", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module, help_text in COMMANDS:
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        cmd.set_defaults(_module=module)
        if argv[:1] == [name]:  # only the chosen command's module is imported
            importlib.import_module(module).add_arguments(cmd)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
    stop_on_hangup_and_term()
    try:
        return int(importlib.import_module(args._module).run(args) or 0)
    except KeyboardInterrupt as stop:  # Ctrl-C, SIGTERM or SIGHUP: nodes are stopped by now
        print(f"lam-ros {args.command}: stopped ({str(stop) or 'SIGINT'})", file=sys.stderr)
        return 130


def train_main() -> int:
    """`ros2 run lam_ros train ...`: the same as `lam-ros train ...`."""
    return main(["train", *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(main())
