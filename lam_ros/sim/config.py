"""Parameters of sim_node and expert_node: frozen dataclasses, the one home of their defaults."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from lam_ros.sim.tasks import DEFAULT_TASK, get_task


def _help(text: str) -> dict:
    return {"help": text}


# The simulated robot that simulator commands (sim-check, record-sim, evaluate, demo, launch sim)
# use unless told otherwise: chosen by name, its specifics live in its profile.
SIM_PROFILE = "panda_sim"

@dataclass(frozen=True)
class SimConfig:
    profile: str = field(default=SIM_PROFILE, metadata=_help("robot profile name or YAML path"))
    task: str = field(default=DEFAULT_TASK, metadata=_help("simulated task (sim/tasks.py)"))
    seed: int = field(default=0, metadata=_help("episode seed the next ~/reset call applies"))
    lockstep: bool = field(default=False, metadata=_help(
        "advance one control period only after a command arrived since the last step "
        "(or after lockstep_timeout_s), for reproducible closed-loop runs"))
    lockstep_timeout_s: float = field(default=0.5, metadata=_help(
        "lockstep: wall seconds to wait for a command before stepping anyway (robot holds)"))
    real_time_factor: float = field(default=1.0, metadata=_help(
        "sim seconds per wall second; 0 = as fast as possible"))
    publish_wrist_camera: bool = field(default=False, metadata=_help(
        "also render a gripper camera on /wrist/image_raw"))
    publish_side_view: bool = field(default=False, metadata=_help(
        "also render a larger view for people on ~/side_view/image_raw (set at start to "
        "create it; may be switched off and on again at run time)"))
    side_view_width: int = field(default=320, metadata=_help("side view width, pixels"))
    side_view_height: int = field(default=240, metadata=_help("side view height, pixels"))
    diagnostics_period_s: float = field(default=1.0, metadata=_help(
        "wall seconds between /diagnostics reports"))

    def __post_init__(self) -> None:
        if not self.profile:
            raise ValueError("profile must name a robot profile, got ''")
        get_task(self.task)  # raises naming the known tasks
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if not (math.isfinite(self.lockstep_timeout_s) and self.lockstep_timeout_s > 0):
            raise ValueError(f"lockstep_timeout_s must be > 0, got {self.lockstep_timeout_s}")
        if not (math.isfinite(self.real_time_factor) and self.real_time_factor >= 0):
            raise ValueError(f"real_time_factor must be >= 0 (0 = as fast as possible), "
                             f"got {self.real_time_factor}")
        for key in ("side_view_width", "side_view_height", "diagnostics_period_s"):
            if not getattr(self, key) > 0:
                raise ValueError(f"{key} must be > 0, got {getattr(self, key)}")


@dataclass(frozen=True)
class ExpertConfig:
    profile: str = field(default=SIM_PROFILE, metadata=_help("robot profile name or YAML path"))
    task: str = field(default=DEFAULT_TASK, metadata=_help("simulated task (sim/tasks.py)"))
    object_poses_topic: str = field(default="/sim_node/object_poses", metadata=_help(
        "privileged held object (poses[0]) and its goal (poses[1]) from the simulator"))
    diagnostics_period_s: float = field(default=1.0, metadata=_help(
        "wall seconds between /diagnostics reports"))

    def __post_init__(self) -> None:
        if not self.profile:
            raise ValueError("profile must name a robot profile, got ''")
        get_task(self.task)
        if not self.object_poses_topic.startswith("/"):
            raise ValueError(f"object_poses_topic must be absolute, got "
                             f"{self.object_poses_topic!r}")
        if not self.diagnostics_period_s > 0:
            raise ValueError(f"diagnostics_period_s must be > 0, got {self.diagnostics_period_s}")
