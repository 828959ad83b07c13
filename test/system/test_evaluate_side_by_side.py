"""`lam-ros evaluate --workers 2`: two sim + policy graphs in two ROS domains share the seeds."""

import json
import re
import subprocess
import sys

import pytest
from onnx_models import hold_model

from lam_ros.core.profile import load_profile
from lam_ros.sim.seeds import eval_seeds

pytestmark = pytest.mark.system


def test_two_graphs_evaluate_every_seed_once_and_report_them_in_order(tmp_path):
    profile = load_profile("panda_sim")  # nothing here depends on the robot
    model = hold_model(tmp_path / "hold.onnx", profile)
    report = tmp_path / "eval"
    result = subprocess.run(
        [sys.executable, "-m", "lam_ros.cli", "evaluate", "--model", str(model),
         "--profile", profile.name, "--task", "pick_place", "--episodes", "5",
         "--time-limit", "1", "--workers", "2", "--video-episodes", "1",
         "--report", str(report)],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    episodes = json.loads((report / "episodes.json").read_text())
    assert [e["seed"] for e in episodes["episodes"]] == eval_seeds(5)
    assert episodes["summary"]["extra"]["workers"] == "2"
    # A policy that holds the arm still never succeeds; each episode ends on the sim's limit.
    assert all(not e["success"] and e["reason"] == "no success in 1 s"
               for e in episodes["episodes"])
    # Each graph ran its own share of the seeds, and no seed ran twice.
    ran = {}
    for worker in ("worker0", "worker1"):
        log = (report / "logs" / worker / "sim_node.log").read_text()
        ran[worker] = [int(s) for s in re.findall(r'reset: \{"seed": (\d+)', log)]
    assert ran["worker0"] and ran["worker1"], ran
    assert sorted(ran["worker0"] + ran["worker1"]) == eval_seeds(5), ran
    assert (report / "rollouts.mp4").is_file()
