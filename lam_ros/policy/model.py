"""The default visuomotor policy: per-camera conv encoder with spatial-softmax keypoints, joint
positions as state, and an MLP head predicting a chunk of absolute joint targets.

The trained module works on normalized tensors only. ``Normalizer`` holds the statistics from the
training set, and ``ExportedPolicy`` bakes both into one graph with the policy file's contract:
raw uint8 NHWC images and joint positions in, joint targets in robot units out.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

STD_FLOOR = 1e-2  # a joint that never moved in the data must not blow up its normalized value


@dataclass(frozen=True)
class PolicyConfig:
    camera_names: tuple[str, ...]
    n_joints: int
    chunk: int = 10
    channels: tuple[int, int, int] = (32, 32, 64)
    keypoints: int = 32  # per camera
    hidden: int = 384

    def __post_init__(self) -> None:
        if not self.camera_names:
            raise ValueError("PolicyConfig.camera_names must name at least one camera")
        for key in ("n_joints", "chunk", "keypoints", "hidden"):
            if getattr(self, key) < 1:
                raise ValueError(f"PolicyConfig.{key} must be >= 1, got {getattr(self, key)}")


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
    """Downsamples fast (the 2-core budget), then keypoints from a 1x1 conv."""

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


class VisuomotorPolicy(nn.Module):
    """Normalized images [B, 3, H, W] per camera + normalized state -> normalized action chunk."""

    def __init__(self, config: PolicyConfig):
        super().__init__()
        self.config = config
        self.encoders = nn.ModuleDict({name: CameraEncoder(config.channels, config.keypoints)
                                       for name in config.camera_names})
        features = 2 * config.keypoints * len(config.camera_names) + config.n_joints
        self.head = nn.Sequential(
            nn.Linear(features, config.hidden), nn.ReLU(),
            nn.Linear(config.hidden, config.hidden), nn.ReLU(),
            nn.Linear(config.hidden, config.chunk * config.n_joints),
        )

    def forward(self, images: dict[str, torch.Tensor], state: torch.Tensor) -> torch.Tensor:
        keypoints = [self.encoders[name](images[name]) for name in self.config.camera_names]
        out = self.head(torch.cat([*keypoints, state], dim=1))
        return out.view(-1, self.config.chunk, self.config.n_joints)


class Normalizer(nn.Module):
    """Training-set statistics as buffers: per-channel image mean/std (on [0, 1] pixels), and
    per-joint state and action mean/std in robot units."""

    def __init__(self, camera_names: tuple[str, ...], n_joints: int):
        super().__init__()
        for name in camera_names:
            self.register_buffer(f"image_mean_{name}", torch.full((3, 1, 1), 0.5))
            self.register_buffer(f"image_std_{name}", torch.full((3, 1, 1), 0.25))
        for key in ("state", "action"):
            self.register_buffer(f"{key}_mean", torch.zeros(n_joints))
            self.register_buffer(f"{key}_std", torch.ones(n_joints))

    @torch.no_grad()
    def fit(self, images: dict[str, torch.Tensor], state: torch.Tensor,
            actions: torch.Tensor) -> None:
        """From uint8 [N, H, W, 3] images, [N, J] joint positions and [N, J] actions."""
        for name, frames in images.items():
            pixels = frames.reshape(-1, 3).float() / 255.0
            getattr(self, f"image_mean_{name}").copy_(pixels.mean(0).view(3, 1, 1))
            getattr(self, f"image_std_{name}").copy_(pixels.std(0).clamp_min(STD_FLOOR)
                                                     .view(3, 1, 1))
        for key, values in (("state", state), ("action", actions)):
            getattr(self, f"{key}_mean").copy_(values.float().mean(0))
            getattr(self, f"{key}_std").copy_(values.float().std(0).clamp_min(STD_FLOOR))

    def image(self, name: str, frames_nchw_float01: torch.Tensor) -> torch.Tensor:
        return ((frames_nchw_float01 - getattr(self, f"image_mean_{name}"))
                / getattr(self, f"image_std_{name}"))

    def state(self, joint_positions: torch.Tensor) -> torch.Tensor:
        return (joint_positions - self.state_mean) / self.state_std

    def action(self, actions: torch.Tensor) -> torch.Tensor:
        return (actions - self.action_mean) / self.action_std

    def unnormalize_action(self, normalized: torch.Tensor) -> torch.Tensor:
        return normalized * self.action_std + self.action_mean


def to_float_nchw(frames_uint8_nhwc: torch.Tensor) -> torch.Tensor:
    return frames_uint8_nhwc.permute(0, 3, 1, 2).float() / 255.0


def random_shift(frames: torch.Tensor, pad: int, generator: torch.Generator) -> torch.Tensor:
    """Random-shift augmentation (DrQ) on a uint8 NHWC batch: each sample moves by up to
    ``pad`` pixels, edges replicated. Clamped indices stand in for padding, so the whole batch
    costs one uint8 gather."""
    batch, height, width, _ = frames.shape
    device = frames.device
    dy, dx = (torch.randint(-pad, pad + 1, (2, batch, 1), generator=generator)
              .to(device).unbind(0))
    rows = (torch.arange(height, device=device) + dy).clamp_(0, height - 1)  # [B, H]
    cols = (torch.arange(width, device=device) + dx).clamp_(0, width - 1)  # [B, W]
    samples = torch.arange(batch, device=device).view(batch, 1, 1)
    return frames[samples, rows.unsqueeze(2), cols.unsqueeze(1)]


class ExportedPolicy(nn.Module):
    """The deployable graph: raw uint8 NHWC images and joint positions -> joint targets."""

    def __init__(self, policy: VisuomotorPolicy, normalizer: Normalizer):
        super().__init__()
        self.policy = policy
        self.normalizer = normalizer
        self.camera_names = policy.config.camera_names

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        """``inputs``: one uint8 [B, H, W, 3] image per camera (config order), then state."""
        *frames, state = inputs
        images = {name: self.normalizer.image(name, to_float_nchw(f))
                  for name, f in zip(self.camera_names, frames, strict=True)}
        normalized = self.policy(images, self.normalizer.state(state))
        return self.normalizer.unnormalize_action(normalized)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
