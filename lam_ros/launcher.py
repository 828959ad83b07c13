"""Starts sets of lam_ros nodes as processes: what `ros2 launch` does, without a ROS distribution.

Each node runs as ``python -m lam_ros.nodes.<executable> --ros-args ...`` with its parameters in a
YAML params file, the same format launch files pass, so both paths configure nodes alike.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


@dataclass
class NodeSpec:
    executable: str  # module in lam_ros.nodes, same as the console script name
    name: str = ""  # node name; defaults to the executable
    params: dict[str, Any] = field(default_factory=dict)
    params_files: list[str] = field(default_factory=list)
    remaps: dict[str, str] = field(default_factory=dict)
    use_sim_time: bool = False


class NodeGroup:
    """Runs NodeSpecs as child processes; stops them all (SIGINT, then SIGKILL) on exit."""

    def __init__(self, specs: list[NodeSpec], log_dir: str | Path | None = None,
                 env: dict[str, str] | None = None, console: bool = False):
        self.specs = specs
        self.env = {**os.environ, **(env or {})}
        self.env.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
        self.env.setdefault("PYTHONUNBUFFERED", "1")
        self._tmp = tempfile.TemporaryDirectory(prefix="lam_ros_launch_")
        self.log_dir = Path(log_dir or self._tmp.name)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.console = console  # node output to this terminal instead of log files
        self.procs: dict[str, subprocess.Popen] = {}

    def command(self, spec: NodeSpec) -> list[str]:
        name = spec.name or spec.executable
        params = {**spec.params, "use_sim_time": spec.use_sim_time}
        params_file = Path(self._tmp.name) / f"{name}.params.yaml"
        params_file.write_text(yaml.safe_dump({name: {"ros__parameters": params}}))
        cmd = [sys.executable, "-m", f"lam_ros.nodes.{spec.executable}", "--ros-args",
               "-r", f"__node:={name}"]
        for extra in spec.params_files:
            cmd += ["--params-file", extra]
        cmd += ["--params-file", str(params_file)]
        for src, dst in spec.remaps.items():
            cmd += ["-r", f"{src}:={dst}"]
        return cmd

    def start(self) -> NodeGroup:
        for spec in self.specs:
            self._spawn(spec)
        return self

    def _spawn(self, spec: NodeSpec) -> None:
        name = spec.name or spec.executable
        log = None if self.console else (self.log_dir / f"{name}.log").open("a")
        self.procs[name] = subprocess.Popen(
            self.command(spec), env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def restart(self, name: str) -> None:
        """Stops (if needed) and starts one node again, e.g. after it crashed or hung."""
        proc = self.procs[name]
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        self._spawn(next(s for s in self.specs if (s.name or s.executable) == name))

    def dead(self) -> dict[str, int]:
        """Nodes that exited, with their return codes."""
        return {n: p.returncode for n, p in self.procs.items() if p.poll() is not None}

    def log(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self, timeout: float = 10.0) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        deadline = time.monotonic() + timeout
        for proc in self.procs.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def __enter__(self) -> NodeGroup:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self._tmp.cleanup()
