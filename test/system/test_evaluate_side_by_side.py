"""`lam-ros evaluate --workers 2`: two sim + policy graphs in two ROS domains share the seeds."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
from onnx_models import hold_model
from test_launcher_signals import children, running
from waiting import wait_for

from lam_ros.core.profile import load_profile
from lam_ros.sim.seeds import eval_seeds

pytestmark = pytest.mark.system


def evaluate_command(model, report, episodes: int, time_limit_s: float) -> list[str]:
    return [sys.executable, "-m", "lam_ros.cli", "evaluate", "--model", str(model),
            "--profile", "panda_sim", "--task", "pick_place", "--episodes", str(episodes),
            "--time-limit", str(time_limit_s), "--workers", "2", "--video-episodes", "1",
            "--report", str(report)]


def seeds_run(report) -> dict[str, list[int]]:
    """The seeds each graph's sim_node was reset to, from its log."""
    ran = {}
    for worker in ("worker0", "worker1"):
        log = report / "logs" / worker / "sim_node.log"
        text = log.read_text() if log.is_file() else ""
        ran[worker] = [int(s) for s in re.findall(r'reset: \{"seed": (\d+)', text)]
    return ran


def test_two_graphs_evaluate_every_seed_once_and_report_them_in_order(tmp_path):
    # nothing here depends on the robot
    model = hold_model(tmp_path / "hold.onnx", load_profile("panda_sim"))
    report = tmp_path / "eval"
    result = subprocess.run(evaluate_command(model, report, episodes=5, time_limit_s=1),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    episodes = json.loads((report / "episodes.json").read_text())
    assert [e["seed"] for e in episodes["episodes"]] == eval_seeds(5)
    assert episodes["summary"]["extra"]["workers"] == "2"
    # A policy that holds the arm still never succeeds; each episode ends on the sim's limit.
    assert all(not e["success"] and e["reason"] == "no success in 1 s"
               for e in episodes["episodes"])
    # Both graphs came up before either took a seed, so each ran a share; none ran twice.
    ran = seeds_run(report)
    assert ran["worker0"] and ran["worker1"], ran
    assert sorted(ran["worker0"] + ran["worker1"]) == eval_seeds(5), ran
    assert (report / "rollouts.mp4").is_file()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_signal_ends_every_graph_promptly(tmp_path, signum):
    """Stopped mid-run, evaluate does not go on through the queue: both graphs end their
    episode and their nodes, and the command exits, within seconds."""
    model = hold_model(tmp_path / "hold.onnx", load_profile("panda_sim"))
    report = tmp_path / "eval"
    proc = subprocess.Popen(evaluate_command(model, report, episodes=40, time_limit_s=5),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        wait_for(lambda: all(seeds_run(report).values()), timeout=120,
                 what="both graphs to start an episode")
        nodes = children(proc.pid)
        assert len(nodes) == 4 and all(running(p) for p in nodes), nodes
        start = time.monotonic()
        proc.send_signal(signum)
        code = proc.wait(timeout=30)
        elapsed = time.monotonic() - start
        output = proc.stdout.read()
        assert code == 130, output[-3000:]
        assert f"stopped ({signum.name})" in output, output[-3000:]
        assert not any(running(p) for p in nodes), "a node outlived evaluate"
        assert elapsed < 20, f"took {elapsed:.0f} s to stop"
        ran = seeds_run(report)
        assert len(ran["worker0"]) + len(ran["worker1"]) < 40, ran
    finally:
        proc.kill()
        proc.wait()
