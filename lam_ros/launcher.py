"""Starts sets of lam_ros nodes as processes: what `ros2 launch` does, without a ROS distribution.

Each node runs as ``python -m lam_ros.nodes.<executable> --ros-args ...`` with its parameters in a
YAML params file, the same format launch files pass, so both paths configure nodes alike.

Lifetime: nodes never outlive the process that started them. Each node asks the kernel for
SIGTERM when its parent dies (``exit_with_parent``, called first in every node's ``main``), so a
launcher killed with SIGKILL still takes its nodes with it; ``stop`` ends them with SIGINT (then
SIGKILL) in their own process groups. Every line a node prints goes through the launcher, which
keeps the node's last error line to say why it exited.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import yaml

PARENT_PID_ENV = "LAM_ROS_PARENT_PID"  # set by NodeGroup: the pid a node must not outlive
OUTLIVE_PARENT_ENV = "LAM_ROS_OUTLIVE_PARENT"  # "1": the operator's choice to keep a node alive
_PR_SET_PDEATHSIG = 1
# rclpy's "[FATAL] [...]" / "[ERROR] [...]" lines and the last line of a Python traceback.
_ERROR_LINE = re.compile(r"\[(FATAL|ERROR)\]|^[\w.]*(Error|Exception|Interrupt|error)\b")


def exit_with_parent() -> None:
    """Makes the kernel send this process SIGTERM when its parent exits (Linux), so no node of
    this package keeps commanding a robot after whoever started it is gone. Exits at once if
    the parent is already gone. ``LAM_ROS_OUTLIVE_PARENT=1`` opts out."""
    if os.environ.get(OUTLIVE_PARENT_ENV) == "1" or not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    expected = os.environ.get(PARENT_PID_ENV)
    if expected and os.getppid() != int(expected):  # it died before prctl took effect
        sys.exit(f"parent process {expected} is gone; not starting")


def stop_on_hangup_and_term() -> None:
    """SIGTERM (a supervisor, `timeout`, systemd) and SIGHUP (a closed terminal) stop a command
    the way Ctrl-C does, so its ``finally`` blocks stop the nodes it started. SIGINT stops it
    too even when it was started ignoring SIGINT (a non-interactive shell's `cmd &` does that,
    and Python then keeps it ignored)."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)

    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, interrupt)


class NodeExited(RuntimeError):
    """A node of a NodeGroup exited; the message names it, its exit code and its last error."""


@dataclass
class NodeSpec:
    executable: str  # module in lam_ros.nodes, same as the console script name
    name: str = ""  # node name; defaults to the executable
    params: dict[str, Any] = field(default_factory=dict)
    params_files: list[str] = field(default_factory=list)
    remaps: dict[str, str] = field(default_factory=dict)
    use_sim_time: bool = False


class _Output:
    """Copies one node's output, line by line, to its log file and/or the console; keeps the
    last lines to explain an exit."""

    def __init__(self, name: str, stream: TextIO, log: TextIO | None, console: bool):
        self.name, self.stream, self.log, self.console = name, stream, log, console
        self.lines: deque[str] = deque(maxlen=200)
        self.thread = threading.Thread(target=self._copy, name=f"{name}_output", daemon=True)
        self.thread.start()

    def _copy(self) -> None:
        for line in self.stream:
            line = line.rstrip("\n")
            self.lines.append(line)
            if self.log is not None:
                self.log.write(line + "\n")
                self.log.flush()
            if self.console:
                print(f"[{self.name}] {line}", flush=True)
        if self.log is not None:
            self.log.close()

    def last_error(self) -> str:
        """The last error line the node printed, else its last line."""
        self.thread.join(timeout=2.0)  # the rest of a dead node's output
        lines = [line.strip() for line in self.lines if line.strip()]
        errors = [line for line in lines if _ERROR_LINE.search(line)]
        return (errors or lines or ["(no output)"])[-1]


class NodeGroup:
    """Runs NodeSpecs as child processes; stops them all (SIGINT, then SIGKILL) on exit."""

    def __init__(self, specs: list[NodeSpec], log_dir: str | Path | None = None,
                 env: dict[str, str] | None = None, console: bool = False):
        self.specs = specs
        self.env = {**os.environ, **(env or {}), PARENT_PID_ENV: str(os.getpid())}
        self.env.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
        self.env.setdefault("PYTHONUNBUFFERED", "1")
        self._tmp = tempfile.TemporaryDirectory(prefix="lam_ros_launch_")
        self.log_dir = Path(log_dir or self._tmp.name)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.console = console  # node output also to this terminal, prefixed with its name
        self.procs: dict[str, subprocess.Popen] = {}
        self._outputs: dict[str, _Output] = {}

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
        log = (self.log_dir / f"{name}.log").open("a")
        # Its own session: a terminal's Ctrl-C reaches the launcher, which stops nodes in order.
        proc = subprocess.Popen(
            self.command(spec), env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True, text=True, errors="replace",
        )
        self.procs[name] = proc
        self._outputs[name] = _Output(name, proc.stdout, log, self.console)

    def restart(self, name: str) -> None:
        """Stops (if needed) and starts one node again, e.g. after it crashed or hung."""
        proc = self.procs[name]
        if proc.poll() is None:
            self._signal(proc, signal.SIGKILL)
            proc.wait()
        self._spawn(next(s for s in self.specs if (s.name or s.executable) == name))

    def dead(self) -> dict[str, int]:
        """Nodes that exited, with their return codes."""
        return {n: p.returncode for n, p in self.procs.items() if p.poll() is not None}

    def exit_reasons(self) -> str:
        """One line per exited node: its exit code and the last error line it printed."""
        return "; ".join(f"{name} exited with code {code}: {self._outputs[name].last_error()}"
                         for name, code in self.dead().items())

    def check(self) -> None:
        """Raises NodeExited naming every node that has exited and why."""
        if self.dead():
            raise NodeExited(self.exit_reasons())

    def log(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    @staticmethod
    def _signal(proc: subprocess.Popen, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signum)  # the node and anything it started

    def stop(self, timeout: float = 10.0) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                self._signal(proc, signal.SIGINT)
        deadline = time.monotonic() + timeout
        for proc in self.procs.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._signal(proc, signal.SIGKILL)
                proc.wait()
        for output in self._outputs.values():
            output.thread.join(timeout=2.0)

    def __enter__(self) -> NodeGroup:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self._tmp.cleanup()
