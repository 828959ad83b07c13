"""Fuzzing the node graph: generated valid and malformed messages over real DDS into sim_node,
teleop_node, recorder_node and policy_node (see lam_ros/ros/fuzz_harness.py for what is sent and
what counts as unsafe). Prints messages sent per node, crashes, unanswered services, commands
checked, unsafe commands and the recorder's per-topic accounting; exits 1 on any problem.

    lam-ros bench fuzz [--messages 10000] [--seed 0] [--rate 600]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000, help="fuzzed messages per node")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rate", type=float, default=600.0, help="fuzzed messages per second")
    parser.add_argument("--model", default="", help="policy.onnx (default: the demo policy)")
    args = parser.parse_args()
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    from lam_ros.ros.fuzz_harness import run_fuzz

    start = time.monotonic()
    report = run_fuzz(args.messages, seed=args.seed, model=args.model, rate_hz=args.rate)
    for line in report.lines():
        print(line)
    print(f"recorder per topic: {json.dumps(report.recorder)}")
    print(f"fuzz seed {args.seed}: {'OK' if report.ok else 'PROBLEMS'} "
          f"in {time.monotonic() - start:.0f} s")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
