"""`lam-ros bench inference`, shortened: the shipped demo policy alone, then policy_node over real
DDS once per tick source, fed by the bench's stand-in robot."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.system

REPO = Path(__file__).resolve().parents[2]


def test_both_tick_sources_send_a_command_every_tick_without_a_fault():
    result = subprocess.run(
        [sys.executable, "-m", "lam_ros.cli", "bench", "inference",
         "--model", str(REPO / "models" / "demo" / "policy.onnx"), "--runs", "20",
         "--node-seconds", "4"],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "ROS_DOMAIN_ID": os.environ["LAM_ROS_TEST_DOMAIN_ID"]})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    runs = re.findall(r"policy_node ticking on (\w+),.*achieved ([\d.]+) Hz; commands (\d+)",
                      result.stdout)
    assert [tick_on for tick_on, _, _ in runs] == ["joint_states", "timer"]
    for tick_on, rate, sent in runs:
        # The stand-in robot follows the commands, so no tick holds: 10 Hz, about 4 s of them.
        assert float(rate) > 8.0 and int(sent) >= 25, (tick_on, rate, sent)
    faults = [json.loads(line[len("faults: "):]) for line in result.stdout.splitlines()
              if line.startswith("faults: ")]
    assert len(faults) == 2 and all(set(f.values()) == {"0"} for f in faults), faults
    table = result.stdout[result.stdout.index("| policy |"):]
    for tick_on in ("joint_states", "timer"):
        assert f"{tick_on}: obs-to-command p50 / p99 ms" in table
