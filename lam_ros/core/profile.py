"""Robot profile: one YAML file describes a robot to every node and to the trainer.

Loaded into frozen dataclasses that validate in ``__post_init__`` and name the bad value.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from lam_ros.core.paths import robots_dir

# float64_multi_array: a forward_command_controller; joint_trajectory: a
# joint_trajectory_controller; float64: one value (std_msgs/Float64), for a gripper driver that
# takes its opening alone.
COMMAND_INTERFACES = ("float64_multi_array", "joint_trajectory", "float64")
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
class GripperSpec:
    """A gripper group's one commanded joint: where it is open, where closed, what mirrors it."""

    open: float
    closed: float
    # URDF joints that follow the commanded joint (a second finger, a linkage): reported by the
    # robot, never commanded; the simulator drives them as mirrors.
    mimic_joints: tuple[str, ...] = ()

    def opening(self, position: float) -> float:
        """0 at closed, 1 at open, whichever direction the joint opens in."""
        return (position - self.closed) / (self.open - self.closed)


@dataclass(frozen=True)
class CommandGroup:
    """Joints one controller takes commands for, on one topic, in one message type."""

    name: str
    joints: tuple[str, ...]
    interface: str
    topic: str
    gripper: GripperSpec | None = None

    def __post_init__(self) -> None:
        where = f"command_groups[{self.name}]"
        _require(self.name.isidentifier(), f"command group name must be an identifier, "
                 f"got {self.name!r}")
        _require(len(self.joints) > 0, f"{where}.joints must list at least one joint")
        _require(self.interface in COMMAND_INTERFACES,
                 f"{where}.interface must be one of {COMMAND_INTERFACES}, got {self.interface!r}")
        _require(self.topic.startswith("/"), f"{where}.topic must be absolute, got {self.topic!r}")
        _require(self.interface != "float64" or len(self.joints) == 1,
                 f"{where}: interface 'float64' carries one value, but the group has "
                 f"{len(self.joints)} joints")
        if self.gripper is not None:
            _require(len(self.joints) == 1, f"{where}.gripper: a gripper group commands one "
                     f"joint (list the others as mimic_joints), got {list(self.joints)}")
            g = self.gripper
            for key in ("open", "closed"):
                value = getattr(g, key)
                _require(isinstance(value, (int, float)) and math.isfinite(value),
                         f"{where}.gripper.{key} must be a finite number, got {value!r}")
            _require(g.open != g.closed, f"{where}.gripper: open == closed ({g.open})")
            _require(self.joints[0] not in g.mimic_joints,
                     f"{where}.gripper.mimic_joints: {self.joints[0]!r} is the commanded joint")

    @property
    def timed(self) -> bool:
        """Commands are trajectories: stamped, timed points, joints named in each message. The
        other interfaces carry bare positions in the group's joint order."""
        return self.interface == "joint_trajectory"


@dataclass(frozen=True)
class RobotProfile:
    name: str
    joints: tuple[JointSpec, ...]  # every commanded joint; this order is the action vector's
    home: tuple[float, ...]
    cameras: tuple[CameraSpec, ...]
    control_hz: float
    command_groups: tuple[CommandGroup, ...]
    # Topics publishing sensor_msgs/JointState, merged by joint name (a gripper often reports
    # on its own topic); every commanded joint must come from one of them.
    joint_state_topics: tuple[str, ...] = ("/joint_states",)
    urdf: str = ""
    end_effector_link: str = ""
    # The grasp point in the end-effector link's frame (m): what Cartesian motion moves.
    tool_offset: tuple[float, float, float] = (0.0, 0.0, 0.0)

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
        self._check_groups()
        camera_names = [c.name for c in self.cameras]
        _require(len(set(camera_names)) == len(camera_names),
                 f"cameras: duplicate camera names {camera_names}")
        _require(len(self.joint_state_topics) > 0, "joint_state_topics must list a topic")
        for topic in self.joint_state_topics:
            _require(topic.startswith("/"), f"joint_state_topics: {topic!r} is not absolute")
        _require(len(set(self.joint_state_topics)) == len(self.joint_state_topics),
                 f"joint_state_topics: duplicates in {list(self.joint_state_topics)}")
        _require(len(self.tool_offset) == 3 and all(
            isinstance(v, (int, float)) and math.isfinite(v) for v in self.tool_offset),
            f"tool_offset must be three finite numbers (m), got {self.tool_offset!r}")
        _require(isinstance(self.control_hz, (int, float)) and 0 < self.control_hz <= 1000,
                 f"control_hz must be in (0, 1000], got {self.control_hz!r}")

    def _check_groups(self) -> None:
        _require(len(self.command_groups) > 0, "command_groups must list at least one group")
        names = self.joint_names
        group_names = [g.name for g in self.command_groups]
        _require(len(set(group_names)) == len(group_names),
                 f"command_groups: duplicate group names {group_names}")
        topics = [g.topic for g in self.command_groups]
        _require(len(set(topics)) == len(topics),
                 f"command_groups: two groups share a topic {topics}")
        owner: dict[str, str] = {}
        for group in self.command_groups:
            for joint in group.joints:
                _require(joint in names, f"command_groups[{group.name}]: joint {joint!r} is not "
                         f"in joints {list(names)}")
                _require(joint not in owner, f"command_groups: joint {joint!r} is in both "
                         f"{owner.get(joint)!r} and {group.name!r}")
                owner[joint] = group.name
            if group.gripper is not None:
                spec = self.joints[names.index(group.joints[0])]
                for key in ("open", "closed"):
                    value = getattr(group.gripper, key)
                    _require(spec.lower <= value <= spec.upper,
                             f"command_groups[{group.name}].gripper.{key}={value} is outside "
                             f"{spec.name}'s limits [{spec.lower}, {spec.upper}]")
                for mimic in group.gripper.mimic_joints:
                    _require(mimic not in names, f"command_groups[{group.name}].gripper."
                             f"mimic_joints: {mimic!r} is a commanded joint")
        orphans = [n for n in names if n not in owner]
        _require(not orphans, f"command_groups: joint(s) {orphans} are in no command group")

    @property
    def joint_names(self) -> tuple[str, ...]:
        return tuple(j.name for j in self.joints)

    @property
    def n_joints(self) -> int:
        return len(self.joints)

    @property
    def control_period(self) -> float:
        return 1.0 / self.control_hz

    def slots(self, group: CommandGroup) -> list[int]:
        """Where a group's joints sit in the action vector, in the group's joint order."""
        return [self.joint_names.index(n) for n in group.joints]

    @property
    def grippers(self) -> tuple[CommandGroup, ...]:
        return tuple(g for g in self.command_groups if g.gripper is not None)

    @property
    def gripper_joints(self) -> tuple[str, ...]:
        return tuple(g.joints[0] for g in self.grippers)

    @property
    def arm_joints(self) -> tuple[str, ...]:
        """The commanded joints that are not grippers, profile order."""
        return tuple(n for n in self.joint_names if n not in self.gripper_joints)

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


def _command_group(data: Any) -> CommandGroup:
    _require(isinstance(data, dict), f"command_groups entries must be mappings, got {data!r}")
    fields = dict(data)
    fields["joints"] = tuple(fields.get("joints") or ())
    if fields.get("gripper") is not None:
        gripper = dict(fields["gripper"])
        gripper["mimic_joints"] = tuple(gripper.get("mimic_joints") or ())
        fields["gripper"] = GripperSpec(**gripper)
    return CommandGroup(**fields)


def profile_from_dict(data: dict[str, Any]) -> RobotProfile:
    """Builds a profile from parsed YAML; unknown or missing keys are named in the error."""
    if not isinstance(data, dict):
        raise ProfileError(f"profile must be a mapping, got {type(data).__name__}")
    known = set(RobotProfile.__dataclass_fields__)
    unknown = sorted(set(data) - known)
    _require(not unknown, f"unknown profile keys {unknown}; known keys are {sorted(known)}")
    for key in ("name", "joints", "home", "control_hz", "command_groups"):
        _require(key in data, f"profile is missing required key {key!r}")
    try:
        joints = tuple(JointSpec(**j) for j in data["joints"])
        cameras = tuple(CameraSpec(**c) for c in data.get("cameras") or ())
        groups = tuple(_command_group(g) for g in data["command_groups"] or ())
    except TypeError as exc:  # a missing or unexpected field inside an entry
        raise ProfileError(f"bad profile entry: {exc}") from exc
    fields = {k: v for k, v in data.items() if k not in ("joints", "cameras", "command_groups")}
    fields["home"] = tuple(float(v) for v in data["home"])
    for key in ("joint_state_topics", "tool_offset"):
        if key in data:
            fields[key] = tuple(data[key] or ())
    return RobotProfile(joints=joints, cameras=cameras, command_groups=groups, **fields)


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
