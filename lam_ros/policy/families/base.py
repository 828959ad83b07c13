"""The policy seam: what every policy family provides, so that training, export, the runtime and
policy_node never branch on the architecture.

A family is one ``PolicyModel`` subclass plus a frozen dataclass of its hyperparameters. It is
built from the dataset's feature shapes and that config; its ``forward`` is the training loss on
a normalized batch (``forward``, so that DistributedDataParallel sees the call that needs
gradients), and ``predict`` is the deterministic normalized action chunk that validation and the
exported graph use. ``ExportedPolicy`` (policy/model.py) wraps ``predict`` and the normalization
into the policy file's contract, which is therefore the same for every family.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar, NamedTuple

import torch
from torch import nn

from lam_ros.core.profile import RobotProfile
from lam_ros.policy.card import CameraCard, PolicyCard


@dataclasses.dataclass(frozen=True)
class FeatureShapes:
    """What the data fixes about a policy: cameras (name and size), joint count, chunk length,
    and how many control ticks of joint positions it sees (``history``)."""

    cameras: tuple[CameraCard, ...]
    n_joints: int
    chunk: int
    history: int = 1

    def __post_init__(self) -> None:
        if not self.cameras:
            raise ValueError("FeatureShapes.cameras must name at least one camera")
        for key in ("n_joints", "chunk", "history"):
            if getattr(self, key) < 1:
                raise ValueError(f"FeatureShapes.{key} must be >= 1, got {getattr(self, key)}")

    @property
    def camera_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.cameras)

    @property
    def state_width(self) -> int:
        """Width of the normalized state a family sees: every tick of history, oldest first."""
        return self.n_joints * self.history

    @classmethod
    def for_profile(cls, profile: RobotProfile, chunk: int, history: int = 1) -> FeatureShapes:
        return cls.from_card(PolicyCard.for_profile(profile, chunk, history=history))

    @classmethod
    def from_card(cls, card: PolicyCard) -> FeatureShapes:
        return cls(tuple(card.cameras), len(card.joint_names), card.chunk, card.history)


class NormalizedBatch(NamedTuple):
    """A training or validation batch after normalization (and, in training, augmentation)."""

    images: dict[str, torch.Tensor]  # camera name -> float [B, 3, H, W]
    state: torch.Tensor  # [B, state_width]: joint positions, oldest tick of history first
    target: torch.Tensor  # the action chunk [B, chunk, n_joints]
    mask: torch.Tensor  # [B, chunk], False past an episode's end and on ticks of weight 0


class TrainingLoss(NamedTuple):
    total: torch.Tensor  # what is minimized
    # The normalized chunk this loss reconstructs (conv: the prediction; act: the decoding of the
    # posterior latent; flow: the one-step estimate from the noised point), for the train L1
    # figure in robot units. Validation always uses ``predict``.
    chunk: torch.Tensor
    terms: dict[str, torch.Tensor]  # named parts of ``total`` for the training log, detached


class PolicyModel(nn.Module, ABC):
    """A family's trainable module; normalized tensors in and out."""

    kind: ClassVar[str]  # what `--policy` takes and the policy card records
    summary: ClassVar[str]  # one line for `lam-ros train --help`
    config_type: ClassVar[type]  # frozen dataclass of hyperparameters, every field defaulted

    def __init__(self, shapes: FeatureShapes, config: Any):
        super().__init__()
        if not isinstance(config, self.config_type):
            raise TypeError(f"{type(self).__name__} needs a {self.config_type.__name__}, "
                            f"got {type(config).__name__}")
        self.shapes = shapes
        self.config = config

    @classmethod
    def make_config(cls, options: Mapping[str, Any]) -> Any:
        """The family's config with ``options`` over its defaults; ValueError names an unknown
        option (and lists the known ones), a value of the wrong type or a bad value. JSON lists
        become tuples and ints become floats where the default is one, so a config read back
        from a policy card or a command line compares equal to the original."""
        defaults = cls.config_type()
        known = [f.name for f in dataclasses.fields(defaults)]
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise ValueError(f"policy {cls.kind!r} has no option {', '.join(unknown)}; "
                             f"its options are {', '.join(known)}")
        values = {}
        for key, value in options.items():
            default = getattr(defaults, key)
            value = tuple(value) if isinstance(value, list) else value
            if isinstance(default, float) and type(value) is int:
                value = float(value)
            if not _same_kind(value, default):
                raise ValueError(f"policy {cls.kind!r} option {key} must be a "
                                 f"{type(default).__name__} like {default!r}, got {value!r}")
            values[key] = value
        return dataclasses.replace(defaults, **values)

    @abstractmethod
    def forward(self, batch: NormalizedBatch, generator: torch.Generator) -> TrainingLoss:
        """The training loss; ``generator`` draws any noise the family needs (latent, flow)."""

    @abstractmethod
    def predict(self, images: dict[str, torch.Tensor], state: torch.Tensor,
                *optional: torch.Tensor) -> torch.Tensor:
        """The normalized action chunk [B, chunk, n_joints]: deterministic for given inputs.
        ``optional``: values for ``optional_inputs`` in their order (defaults when left out)."""

    def optional_inputs(self) -> dict[str, torch.Tensor]:
        """Extra graph inputs with a default value (name -> batch-1 tensor): the exported graph
        takes them as inputs backed by initializers, so a caller that does not know them (the
        runtime) runs on the defaults."""
        return {}


def _same_kind(value: Any, default: Any) -> bool:
    """Same type as ``default`` (bool is not int); a tuple also of its length and element
    types."""
    if type(value) is not type(default):
        return False
    return not isinstance(default, tuple) or (
        len(value) == len(default)
        and all(type(v) is type(d) for v, d in zip(value, default, strict=True)))


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of per-joint ``values`` [B, chunk, J] over the real (unpadded) chunk steps."""
    weights = mask.unsqueeze(-1).to(values.dtype).expand_as(values)
    return (values * weights).sum() / weights.sum().clamp_min(1.0)


def masked_l1(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
              scale: torch.Tensor | None = None) -> torch.Tensor:
    """Mean |pred - target| over real chunk steps; ``scale`` maps back to robot units."""
    err = (pred - target).abs()
    return masked_mean(err if scale is None else err * scale, mask)


def check_positive(config: Any, *keys: str) -> None:
    """ValueError naming the first of ``keys`` whose value (or any element of a tuple) is < 1."""
    for key in keys:
        value = getattr(config, key)
        if any(v < 1 for v in (value if isinstance(value, tuple) else (value,))):
            raise ValueError(f"{type(config).__name__}.{key} must be >= 1, got {value}")
