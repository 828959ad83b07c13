"""`conv`, the default policy: per-camera conv encoder with spatial-softmax keypoints, joint
positions as state, and an MLP head regressing a chunk of absolute joint targets (L1 loss).
Small and fast on 2 CPU cores; a regression head averages multimodal demonstrations."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from lam_ros.policy.families.base import (
    FeatureShapes,
    NormalizedBatch,
    PolicyModel,
    TrainingLoss,
    check_positive,
    masked_l1,
)
from lam_ros.policy.families.vision import camera_encoders, keypoint_features


@dataclass(frozen=True)
class ConvConfig:
    channels: tuple[int, int, int] = (32, 32, 64)
    keypoints: int = 32  # per camera
    hidden: int = 384

    def __post_init__(self) -> None:
        check_positive(self, "channels", "keypoints", "hidden")


class ConvPolicy(PolicyModel):
    """Normalized images per camera + normalized state -> normalized action chunk."""

    kind = "conv"
    summary = "conv encoder, spatial-softmax keypoints, MLP regressing the chunk (default)"
    config_type = ConvConfig

    def __init__(self, shapes: FeatureShapes, config: ConvConfig):
        super().__init__(shapes, config)
        self.encoders, features = camera_encoders(shapes.camera_names, config.channels,
                                                  config.keypoints, shapes.state_width)
        self.head = nn.Sequential(
            nn.Linear(features, config.hidden), nn.ReLU(),
            nn.Linear(config.hidden, config.hidden), nn.ReLU(),
            nn.Linear(config.hidden, shapes.chunk * shapes.n_joints),
        )

    def forward(self, batch: NormalizedBatch, generator: torch.Generator) -> TrainingLoss:
        pred = self.predict(batch.images, batch.state)
        return TrainingLoss(masked_l1(pred, batch.target, batch.mask), pred, {})

    def predict(self, images: dict[str, torch.Tensor], state: torch.Tensor) -> torch.Tensor:
        features = keypoint_features(self.encoders, self.shapes.camera_names, images, state)
        return self.head(features).view(-1, self.shapes.chunk, self.shapes.n_joints)
