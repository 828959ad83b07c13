"""`lam-ros launch policy --sim` stopped the ways a supervisor, a terminal or the kernel stop it:
no lam_ros node may outlive its launcher (an orphaned policy_node keeps commanding the robot)."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from onnx_models import default_card, hold_model
from waiting import wait_for

from lam_ros.launcher import NodeExited, NodeGroup, NodeSpec

pytestmark = pytest.mark.system


def children(pid: int) -> list[int]:
    """Processes whose parent is ``pid``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def running(pid: int) -> bool:
    """Alive and not a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


class Launch:
    """`lam-ros launch policy --sim` as a process, with its output collected."""

    def __init__(self):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lam_ros.cli", "launch", "policy", "--sim",
             "--robot", "panda_sim"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip())

    def printed(self, text: str) -> bool:
        return any(text in line for line in self.lines)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGKILL])
def test_no_node_outlives_its_launcher(signum):
    launch = Launch()
    try:
        wait_for(lambda: launch.printed("waiting for ~/enable") and launch.printed("simulating"),
                 timeout=90, what="policy_node and sim_node to start")
        nodes = children(launch.proc.pid)
        assert len(nodes) == 2 and all(running(p) for p in nodes), launch.lines
        launch.proc.send_signal(signum)
        wait_for(lambda: not any(running(p) for p in nodes), timeout=15,
                 what=f"nodes to exit after {signum.name} to the launcher")
        assert launch.proc.wait(timeout=15) != 0
        if signum != signal.SIGKILL:  # the launcher itself stopped them, and said so
            wait_for(lambda: launch.printed(f"stopped ({signum.name})"), what="its last line")
    finally:
        launch.proc.kill()
        launch.proc.wait()


def test_a_node_that_refuses_to_start_is_reported_with_its_reason(tmp_path):
    missing = tmp_path / "no_such_policy.onnx"
    group = NodeGroup([NodeSpec("policy_node", params={"model": str(missing),
                                                       "profile": "panda_sim"})]).start()
    try:
        wait_for(lambda: group.dead(), timeout=60, what="policy_node to refuse")
        with pytest.raises(NodeExited) as refusal:
            group.check()
        message = str(refusal.value)
        assert "policy_node exited with code 1" in message
        assert "cannot start" in message and str(missing) in message
        assert "Traceback" not in message
    finally:
        group.stop()


@pytest.mark.parametrize("executable", ["policy_node", "recorder_node", "teleop_node"])
def test_nodes_that_command_or_record_a_robot_require_its_profile(executable):
    """No robot is implied: without a profile the node refuses in one line, naming what to set."""
    done = subprocess.run([sys.executable, "-m", f"lam_ros.nodes.{executable}"],
                          capture_output=True, text=True, timeout=60)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "cannot start: no robot profile given" in output and "panda_sim" in output
    assert "Traceback" not in output


def test_evaluate_reports_a_refusing_policy_at_once(tmp_path, profile):
    """A model for another robot: `lam-ros evaluate` exits non-zero with policy_node's own
    one-line reason, without a traceback, long before its 60 s wait for services, also when
    two graphs start side by side."""
    card = json.loads(default_card(profile, 4))
    card["joint_names"] = list(reversed(card["joint_names"]))
    other = hold_model(tmp_path / "other_robot.onnx", profile, card_json=json.dumps(card))
    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "lam_ros.cli", "evaluate", "--model", str(other),
         "--profile", profile.name, "--episodes", "2", "--workers", "2",
         "--report", str(tmp_path / "eval")],
        capture_output=True, text=True, timeout=120)
    elapsed = time.monotonic() - start
    assert result.returncode == 1, result.stdout + result.stderr
    assert "policy_node exited with code 1" in result.stderr
    assert f"does not fit robot '{profile.name}': joint_names" in result.stderr.splitlines()[-1]
    assert "Traceback" not in result.stderr
    assert elapsed < 55, f"took {elapsed:.0f} s: it waited for the services instead"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_every_node_exits_cleanly_and_promptly_on_a_stop_signal(tmp_path, signum,
                                                                 rclpy_context):
    """SIGINT / SIGTERM end every node with exit code 0 well before the launcher's SIGKILL
    (a thread left inside rcl once hung policy_node at exit)."""
    from rclpy.node import Node

    from lam_ros.core.paths import models_dir

    robot = {"profile": "panda_sim"}
    specs = [NodeSpec("sim_node", params=robot),
             NodeSpec("policy_node", params={**robot, "deadman_button": 4,
                                             "model": str(models_dir() / "demo/policy.onnx")}),
             NodeSpec("teleop_node", params=robot),
             NodeSpec("recorder_node", params={**robot, "data_root": str(tmp_path)})]
    group = NodeGroup(specs, log_dir=tmp_path / "logs").start()
    probe = Node("stop_probe", context=rclpy_context)
    try:
        names = {s.executable for s in specs}
        wait_for(lambda: names <= set(probe.get_node_names()) or group.dead(), timeout=90,
                 what="all four nodes in the graph")
        wait_for(lambda: "waiting for ~/enable" in group.log("policy_node"), timeout=60,
                 what="policy_node to finish loading")
        for proc in group.procs.values():
            proc.send_signal(signum)
        for name, proc in group.procs.items():
            assert proc.wait(timeout=8) == 0, f"{name}: {group.log(name)[-2000:]}"
    finally:
        group.stop()
        probe.destroy_node()
