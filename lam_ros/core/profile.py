"""Robot profile: one YAML file describes a robot to every node and to the trainer.

Loaded into frozen dataclasses that validate in ``__post_init__`` and name the bad value.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lam_ros.core.paths import robots_dir

COMMAND_INTERFACES = ("float64_multi_array", "joint_trajectory")
IMAGE_ENCODINGS = ("rgb8", "bgr8")


class ProfileError(ValueError):
    """A robot profile is malformed; the message names the field and the value."""


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ProfileError(message)


@dataclass(frozen=True)
class JointSpec:
    name: str
    lower: float
    upper: float
    max_velocity: float  # rad/s (or m/s for prismatic joints)

    def __post_init__(self) -> None:
        _require(bool(self.name), "joint name must not be empty")
        for key in ("lower", "upper", "max_velocity"):
            value = getattr(self, key)
            _require(
                isinstance(value, (int, float)) and math.isfinite(value),
                f"joints[{self.name}].{key} must be a finite number, got {value!r}",
            )
        _require(
            self.lower <= self.upper,
            f"joints[{self.name}]: lower limit {self.lower} > upper limit {self.upper}",
        )
        _require(
            self.max_velocity > 0,
            f"joints[{self.name}].max_velocity must be > 0, got {self.max_velocity}",
        )


@dataclass(frozen=True)
class CameraSpec:
    name: str
    topic: str
    width: int  # the size the policy sees
    height: int
    encoding: str = "rgb8"
    compressed: bool = False

    def __post_init__(self) -> None:
        _require(self.name.isidentifier(), f"camera name must be an identifier, got {self.name!r}")
        _require(self.topic.startswith("/"), f"cameras[{self.name}].topic must be absolute, "
                 f"got {self.topic!r}")
        for key in ("width", "height"):
            value = getattr(self, key)
            _require(isinstance(value, int) and value > 0,
                     f"cameras[{self.name}].{key} must be a positive integer, got {value!r}")
        _require(self.encoding in IMAGE_ENCODINGS,
                 f"cameras[{self.name}].encoding must be one of {IMAGE_ENCODINGS}, "
                 f"got {self.encoding!r}")


@dataclass(frozen=True)
class CommandSpec:
    interface: str = "float64_multi_array"
    topic: str = "/forward_position_controller/commands"

    def __post_init__(self) -> None:
        _require(self.interface in COMMAND_INTERFACES,
                 f"command.interface must be one of {COMMAND_INTERFACES}, got {self.interface!r}")
        _require(self.topic.startswith("/"), f"command.topic must be absolute, got {self.topic!r}")


@dataclass(frozen=True)
class RobotProfile:
    name: str
    joints: tuple[JointSpec, ...]
    home: tuple[float, ...]
    cameras: tuple[CameraSpec, ...]
    control_hz: float
    command: CommandSpec = field(default_factory=CommandSpec)
    joint_states_topic: str = "/joint_states"
    gripper_joints: tuple[str, ...] = ()
    # URDF joints that mirror the first gripper joint (a second finger): not commanded, reported.
    gripper_mimic_joints: tuple[str, ...] = ()
    urdf: str = ""
    end_effector_link: str = ""

    def __post_init__(self) -> None:
        _require(len(self.joints) > 0, "joints must list at least one joint")
        names = self.joint_names
        dupes = sorted({n for n in names if names.count(n) > 1})
        _require(not dupes, f"joints: duplicate joint names {dupes}")
        _require(len(self.home) == len(self.joints),
                 f"home has {len(self.home)} values but joints has {len(self.joints)}")
        for joint, value in zip(self.joints, self.home, strict=True):
            _require(joint.lower <= value <= joint.upper,
                     f"home[{joint.name}]={value} is outside [{joint.lower}, {joint.upper}]")
        for gripper in self.gripper_joints:
            _require(gripper in names, f"gripper_joints: {gripper!r} is not in joints {names}")
        for mimic in self.gripper_mimic_joints:
            _require(mimic not in names, f"gripper_mimic_joints: {mimic!r} is a commanded joint")
        _require(not self.gripper_mimic_joints or self.gripper_joints,
                 "gripper_mimic_joints need a gripper joint to mirror (gripper_joints)")
        camera_names = [c.name for c in self.cameras]
        _require(len(set(camera_names)) == len(camera_names),
                 f"cameras: duplicate camera names {camera_names}")
        _require(isinstance(self.control_hz, (int, float)) and 0 < self.control_hz <= 1000,
                 f"control_hz must be in (0, 1000], got {self.control_hz!r}")

    @property
    def joint_names(self) -> tuple[str, ...]:
        return tuple(j.name for j in self.joints)

    @property
    def n_joints(self) -> int:
        return len(self.joints)

    @property
    def control_period(self) -> float:
        return 1.0 / self.control_hz

    def camera(self, name: str) -> CameraSpec:
        for cam in self.cameras:
            if cam.name == name:
                return cam
        raise KeyError(f"profile {self.name!r} has no camera {name!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def fingerprint(self) -> str:
        """A short hash of everything that makes data or a model fit this robot."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def profile_from_dict(data: dict[str, Any]) -> RobotProfile:
    """Builds a profile from parsed YAML; unknown or missing keys are named in the error."""
    if not isinstance(data, dict):
        raise ProfileError(f"profile must be a mapping, got {type(data).__name__}")
    known = set(RobotProfile.__dataclass_fields__)
    unknown = sorted(set(data) - known)
    _require(not unknown, f"unknown profile keys {unknown}; known keys are {sorted(known)}")
    for key in ("name", "joints", "home", "control_hz"):
        _require(key in data, f"profile is missing required key {key!r}")
    try:
        joints = tuple(JointSpec(**j) for j in data["joints"])
        cameras = tuple(CameraSpec(**c) for c in data.get("cameras") or ())
        command = CommandSpec(**(data.get("command") or {}))
    except TypeError as exc:  # a missing or unexpected field inside a joint/camera/command
        raise ProfileError(f"bad profile entry: {exc}") from exc
    fields = {k: v for k, v in data.items() if k not in ("joints", "cameras", "command")}
    fields["home"] = tuple(float(v) for v in data["home"])
    fields["gripper_joints"] = tuple(data.get("gripper_joints") or ())
    fields["gripper_mimic_joints"] = tuple(data.get("gripper_mimic_joints") or ())
    return RobotProfile(joints=joints, cameras=cameras, command=command, **fields)


def load_profile(name_or_path: str | Path) -> RobotProfile:
    """Loads ``config/robots/<name>.yaml`` or an explicit YAML path."""
    if not str(name_or_path):
        available = sorted(p.stem for p in robots_dir().glob("*.yaml"))
        raise ProfileError(f"no robot profile given: set the profile parameter (robot:= in "
                           f"launch files, --robot / --profile on the command line) to a name "
                           f"in {available} or a YAML path")
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = robots_dir() / f"{name_or_path}.yaml"
    if not path.is_file():
        available = sorted(p.stem for p in robots_dir().glob("*.yaml"))
        raise ProfileError(f"robot profile {str(name_or_path)!r} not found "
                           f"(looked for {path}; available: {available})")
    with path.open() as f:
        data = yaml.safe_load(f)
    try:
        return profile_from_dict(data)
    except ProfileError as exc:
        raise ProfileError(f"{path}: {exc}") from None


def resolve_urdf(urdf: str) -> str:
    """Expands ``pybullet_data:<relative path>`` to a file path; other values pass through."""
    prefix = "pybullet_data:"
    if urdf.startswith(prefix):
        import pybullet_data

        return str(Path(pybullet_data.getDataPath()) / urdf[len(prefix):])
    return urdf
