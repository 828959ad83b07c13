"""What every policy family shares: the normalization statistics, image helpers, and the
deployable wrapper.

A family's module (policy/families/) works on normalized tensors only. ``Normalizer`` holds the
statistics from the training set, and ``ExportedPolicy`` bakes both into one graph with the policy
file's contract: raw uint8 NHWC images and joint positions in, joint targets in robot units out.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from lam_ros.policy.card import PolicyCard
from lam_ros.policy.families import FeatureShapes, PolicyModel, family

STD_FLOOR = 1e-2  # a joint that never moved in the data must not blow up its normalized value


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

    def observed_state(self, state: torch.Tensor, past: torch.Tensor | None) -> torch.Tensor:
        """The normalized state a family sees, [B, history * J]: ``past`` [B, history - 1, J]
        (oldest first; None for a policy without history), then ``state`` [B, J]."""
        if past is None:
            return self.state(state)
        return self.state(torch.cat([past, state.unsqueeze(1)], 1)).flatten(1)

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
    """The deployable graph: raw uint8 NHWC images and joint positions -> joint targets, through
    any family's ``predict``."""

    def __init__(self, policy: PolicyModel, normalizer: Normalizer):
        super().__init__()
        self.policy = policy
        self.normalizer = normalizer
        self.camera_names = policy.shapes.camera_names

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        """``inputs``: one uint8 [B, H, W, 3] image per camera (``camera_names`` order), then
        state, then (history > 1) the state history, then any of the policy's optional inputs in
        order (their defaults if left out)."""
        cameras = len(self.camera_names)
        frames, state = inputs[:cameras], inputs[cameras]
        has_past = self.policy.shapes.history > 1
        past = inputs[cameras + 1] if has_past else None
        optional = inputs[cameras + 1 + has_past:]
        images = {name: self.normalizer.image(name, to_float_nchw(f))
                  for name, f in zip(self.camera_names, frames, strict=True)}
        normalized = self.policy.predict(images, self.normalizer.observed_state(state, past),
                                         *optional)
        return self.normalizer.unnormalize_action(normalized)

    @classmethod
    def from_checkpoint(cls, checkpoint: str | Path, card: PolicyCard) -> ExportedPolicy:
        """The exported weights (see ``kept_weights``) and normalizer of a training checkpoint,
        as the family and config the card records (cards from before policy families are
        ``conv`` with its defaults)."""
        from safetensors.torch import load_file

        policy_cls = family(card.policy)
        policy = policy_cls(FeatureShapes.from_card(card),
                            policy_cls.make_config(card.policy_config))
        normalizer = Normalizer(policy.shapes.camera_names, policy.shapes.n_joints)
        tensors = load_file(str(checkpoint))
        policy.load_state_dict(kept_weights(tensors))
        normalizer.load_state_dict({k[len("normalizer."):]: v for k, v in tensors.items()
                                    if k.startswith("normalizer.")})
        return cls(policy, normalizer).eval()


def kept_weights(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The policy weights a checkpoint's run exported: those of its best validation (``best.``,
    with ``--keep best``), else its EMA weights (``ema.``)."""
    prefix = "best." if any(k.startswith("best.") for k in tensors) else "ema."
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
