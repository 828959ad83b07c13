"""The policy card: what a policy file promises, stored in ONNX metadata_props and beside it.

The inference node refuses a model whose card does not match its robot profile, naming the field.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lam_ros.core.profile import RobotProfile

CARD_KEY = "lam_ros.policy_card"
SCHEMA_VERSION = 1
ACTION_SEMANTICS = "absolute_joint_positions"


class CardMismatchError(ValueError):
    """A policy card does not fit the robot profile (or is missing / malformed)."""


@dataclass(frozen=True)
class CameraCard:
    name: str
    width: int
    height: int


@dataclass(frozen=True)
class PolicyCard:
    joint_names: tuple[str, ...]
    cameras: tuple[CameraCard, ...]
    control_hz: float
    chunk: int
    robot: str
    profile_hash: str
    action_semantics: str = ACTION_SEMANTICS
    schema_version: int = SCHEMA_VERSION
    package_version: str = ""
    training: dict[str, Any] = field(default_factory=dict)  # data summary, steps, config
    # Which action slots drive which command group (controller); empty on cards written before
    # command groups, whose slots are fixed by joint_names alone.
    command_groups: dict[str, list[int]] = field(default_factory=dict)
    # The policy family (`lam-ros train --policy`) and its hyperparameters. Cards written before
    # families are all the default conv policy, its config not recorded (its defaults then).
    policy: str = "conv"
    policy_config: dict[str, Any] = field(default_factory=dict)
    # The task its demonstrations were recorded for (their episode facts); "" on cards written
    # before tasks had names, and for episodes recorded without one.
    task: str = ""
    # Control ticks of joint positions the policy sees: the present, and history - 1 ticks
    # before it as the input features.STATE_HISTORY (1: the present only, no such input).
    history: int = 1

    @classmethod
    def for_profile(cls, profile: RobotProfile, chunk: int, **extra: Any) -> PolicyCard:
        from lam_ros import __version__

        return cls(
            joint_names=profile.joint_names,
            cameras=tuple(CameraCard(c.name, c.width, c.height) for c in profile.cameras),
            control_hz=float(profile.control_hz),
            chunk=int(chunk),
            robot=profile.name,
            profile_hash=profile.fingerprint(),
            package_version=__version__,
            command_groups={g.name: profile.slots(g) for g in profile.command_groups},
            **extra,
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> PolicyCard:
        try:
            data = json.loads(text)
            if data.get("schema_version") != SCHEMA_VERSION:
                raise CardMismatchError(
                    f"policy card schema_version {data.get('schema_version')!r} is not "
                    f"{SCHEMA_VERSION}; re-export the model with this lam_ros version")
            data["joint_names"] = tuple(data["joint_names"])
            data["cameras"] = tuple(CameraCard(**c) for c in data["cameras"])
            return cls(**data)
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise CardMismatchError(f"policy card is malformed: {exc}") from None

    def check_against(self, profile: RobotProfile) -> None:
        """Raises CardMismatchError naming the first field that does not match the profile."""
        if type(self.history) is not int or self.history < 1:
            raise CardMismatchError(f"history: {self.history!r} is not a whole number of "
                                    f"control ticks >= 1")
        expected = PolicyCard.for_profile(profile, self.chunk)
        if self.joint_names != expected.joint_names:
            raise CardMismatchError(
                f"joint_names: model has {list(self.joint_names)}, "
                f"profile {profile.name!r} has {list(expected.joint_names)}")
        if self.cameras != expected.cameras:
            raise CardMismatchError(
                f"cameras: model has {[asdict(c) for c in self.cameras]}, "
                f"profile {profile.name!r} has {[asdict(c) for c in expected.cameras]}")
        if self.command_groups and self.command_groups != expected.command_groups:
            raise CardMismatchError(
                f"command_groups: model drives {self.command_groups}, "
                f"profile {profile.name!r} has {expected.command_groups}")
        if abs(self.control_hz - expected.control_hz) > 1e-9:
            raise CardMismatchError(
                f"control_hz: model was trained at {self.control_hz} Hz, "
                f"profile {profile.name!r} runs at {expected.control_hz} Hz")
        if self.action_semantics != ACTION_SEMANTICS:
            raise CardMismatchError(
                f"action_semantics: model outputs {self.action_semantics!r}, "
                f"this node sends {ACTION_SEMANTICS!r}")
        if self.chunk < 1:
            raise CardMismatchError(f"chunk: must be >= 1, got {self.chunk}")


def embedded_card(model, where: str | Path) -> PolicyCard:
    """The card in an ``onnx.ModelProto``'s metadata_props; CardMismatchError names a missing or
    malformed one."""
    props = {p.key: p.value for p in model.metadata_props}
    if CARD_KEY not in props:
        raise CardMismatchError(f"{where}: no policy card (metadata_props key {CARD_KEY!r}); "
                                f"export the model with lam_ros so it carries one")
    try:
        return PolicyCard.from_json(props[CARD_KEY])
    except CardMismatchError as exc:
        raise CardMismatchError(f"{where}: {exc}") from None


def card_path(model_path: str | Path) -> Path:
    """The JSON copy of the card saved beside ``policy.onnx`` (``policy.card.json``)."""
    path = Path(model_path)
    return path.with_name(path.stem + ".card.json")
