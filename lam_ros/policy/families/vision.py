"""The keypoint image encoder that the conv and flow families share: a small conv stack that
downsamples fast (the 2-core budget), then spatial-softmax keypoints from a 1x1 conv."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class SpatialSoftmax(nn.Module):
    """Feature maps -> expected (x, y) image coordinates per channel, in [-1, 1]."""

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = maps.shape
        weights = F.softmax(maps.flatten(2), dim=-1).view(batch, channels, height, width)
        xs = torch.linspace(-1.0, 1.0, width, device=maps.device, dtype=maps.dtype)
        ys = torch.linspace(-1.0, 1.0, height, device=maps.device, dtype=maps.dtype)
        x = (weights.sum(dim=2) * xs).sum(dim=-1)
        y = (weights.sum(dim=3) * ys).sum(dim=-1)
        return torch.cat([x, y], dim=1)


class CameraEncoder(nn.Module):
    """Normalized image [B, 3, H, W] -> 2 * ``keypoints`` coordinates."""

    def __init__(self, channels: tuple[int, int, int], keypoints: int):
        super().__init__()
        c1, c2, c3 = channels
        self.net = nn.Sequential(
            nn.Conv2d(3, c1, 5, stride=2, padding=2), nn.ReLU(),
            nn.Conv2d(c1, c2, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(c2, c3, 3, padding=1), nn.ReLU(),
            nn.Conv2d(c3, keypoints, 1),
            SpatialSoftmax(),
        )

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.net(image)


def camera_encoders(camera_names: tuple[str, ...], channels: tuple[int, int, int],
                    keypoints: int, state_width: int) -> tuple[nn.ModuleDict, int]:
    """One keypoint encoder per camera, and the width of ``keypoint_features``' output."""
    encoders = nn.ModuleDict({name: CameraEncoder(channels, keypoints) for name in camera_names})
    return encoders, 2 * keypoints * len(camera_names) + state_width


def keypoint_features(encoders: nn.ModuleDict, camera_names: tuple[str, ...],
                      images: dict[str, torch.Tensor], state: torch.Tensor) -> torch.Tensor:
    """Every camera's keypoints (in ``camera_names`` order) and the state, concatenated."""
    return torch.cat([*(encoders[name](images[name]) for name in camera_names), state], dim=1)
