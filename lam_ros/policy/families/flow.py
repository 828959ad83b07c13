"""`flow`: a flow-matching policy. A velocity network, conditioned on the observation (the conv
family's keypoint encoder and the joint state) and the time t, moves a noise chunk to an action
chunk; it learns with the rectified-flow (conditional flow matching) loss on the normalized
chunk: x_t = (1 - t) x_0 + t x_1 with x_0 ~ N(0, I), regress x_1 - x_0.

Inference integrates from noise in ``integration_steps`` Euler steps, unrolled in the exported
graph. The noise is the optional graph input ``noise`` (normalized action units, [1, chunk,
n_joints]); its default is a fixed draw stored with the weights, so a caller that feeds only the
contract's inputs (the runtime) gets deterministic chunks. A fixed draw rather than zeros: zero
noise is the prior's centre, which a flow carries to the boundary between two modes of the
demonstrations rather than into either.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from lam_ros.policy.families.base import (
    FeatureShapes,
    NormalizedBatch,
    PolicyModel,
    TrainingLoss,
    check_positive,
    masked_mean,
)
from lam_ros.policy.families.conv import ConvConfig
from lam_ros.policy.families.vision import camera_encoders, keypoint_features

NOISE_INPUT = "noise"
NOISE_SEED = 0  # of the default noise draw


@dataclass(frozen=True)
class FlowConfig:
    channels: tuple[int, int, int] = ConvConfig.channels  # the observation encoder, as conv's
    keypoints: int = ConvConfig.keypoints
    hidden: int = 256  # 512 infers 3-6x slower on 2 cores: 1 MB layers spill out of L2
    layers: int = 3  # Linear + SiLU layers of the velocity network before its output layer
    time_features: int = 32  # sinusoidal embedding of t
    integration_steps: int = 10  # Euler steps from noise to the chunk

    def __post_init__(self) -> None:
        check_positive(self, "channels", "keypoints", "hidden", "layers", "time_features",
                       "integration_steps")
        if self.time_features % 2:
            raise ValueError(f"FlowConfig.time_features must be even, got {self.time_features}")


def time_embedding(t: torch.Tensor, features: int) -> torch.Tensor:
    """Sine and cosine of t in [0, 1] at frequencies 1 .. 1000: [B] -> [B, features]."""
    frequencies = torch.exp(torch.linspace(0.0, math.log(1000.0), features // 2,
                                           device=t.device, dtype=t.dtype))
    angles = t[:, None] * frequencies
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class FlowPolicy(PolicyModel):
    kind = "flow"
    summary = "flow matching: a learned velocity integrated from noise in Euler steps"
    config_type = FlowConfig

    def __init__(self, shapes: FeatureShapes, config: FlowConfig):
        super().__init__(shapes, config)
        self.encoders, observation = camera_encoders(shapes.camera_names, config.channels,
                                                     config.keypoints, shapes.state_width)
        actions = shapes.chunk * shapes.n_joints
        # The first layer is a Linear over [observation, x, time] written as a sum of three, so
        # that inference projects the observation once rather than at every Euler step.
        self.observation_in = nn.Linear(observation, config.hidden)
        self.action_in = nn.Linear(actions, config.hidden, bias=False)
        self.time_in = nn.Linear(config.time_features, config.hidden, bias=False)
        layers: list[nn.Module] = [nn.SiLU()]
        for _ in range(config.layers - 1):
            layers += [nn.Linear(config.hidden, config.hidden), nn.SiLU()]
        self.velocity_out = nn.Sequential(*layers, nn.Linear(config.hidden, actions))
        noise = torch.randn(1, shapes.chunk, shapes.n_joints,
                            generator=torch.Generator().manual_seed(NOISE_SEED))
        self.register_buffer("default_noise", noise)

    def observe(self, images: dict[str, torch.Tensor], state: torch.Tensor) -> torch.Tensor:
        """The observation's share of the velocity network's first layer [B, hidden]."""
        features = keypoint_features(self.encoders, self.shapes.camera_names, images, state)
        return self.observation_in(features)

    def velocity(self, observation: torch.Tensor, x: torch.Tensor,
                 t: torch.Tensor) -> torch.Tensor:
        hidden = (observation + self.action_in(x.flatten(1))
                  + self.time_in(time_embedding(t, self.config.time_features)))
        return self.velocity_out(hidden).view_as(x)

    def forward(self, batch: NormalizedBatch, generator: torch.Generator) -> TrainingLoss:
        observation = self.observe(batch.images, batch.state)
        target = batch.target
        noise = torch.randn(target.shape, generator=generator).to(target.device)
        t = torch.rand(target.shape[0], generator=generator).to(target.device)
        t_ = t[:, None, None]
        x_t = (1 - t_) * noise + t_ * target
        velocity = self.velocity(observation, x_t, t)
        loss = masked_mean((velocity - (target - noise)).square(), batch.mask)
        estimate = (x_t + (1 - t_) * velocity).detach()  # one Euler step to t = 1
        return TrainingLoss(loss, estimate, {"velocity_mse": loss.detach()})

    def predict(self, images: dict[str, torch.Tensor], state: torch.Tensor,
                noise: torch.Tensor | None = None) -> torch.Tensor:
        observation = self.observe(images, state)
        batch, steps = state.shape[0], self.config.integration_steps
        x = self.default_noise.expand(batch, -1, -1) if noise is None else noise
        for k in range(steps):  # unrolled when traced for ONNX
            t = torch.full((batch,), k / steps, device=x.device, dtype=x.dtype)
            x = x + self.velocity(observation, x, t) / steps
        return x

    def optional_inputs(self) -> dict[str, torch.Tensor]:
        return {NOISE_INPUT: self.default_noise}
