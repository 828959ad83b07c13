"""`act`: a conditional-VAE action-chunking transformer in the spirit of ACT (Zhao et al. 2023),
sized for 2 CPU cores.

A small conv backbone per camera turns each image into tokens on a 1/8 grid (fixed sine position
plus a learned camera embedding); with a joint-state token and a latent token they form the
transformer encoder's input. The decoder's learned queries, one per chunk step, attend to it and
each becomes one step's joint targets. In training a second encoder reads the normalized action
chunk and state and gives the posterior over the latent z (the style of this demonstration);
the loss is L1 reconstruction plus ``kl_weight`` times its KL divergence from N(0, I). At
inference, and in the exported graph, z = 0: the mean style, deterministic.
"""

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
from lam_ros.policy.families.transformer import Decoder, Encoder, sinusoidal_2d


@dataclass(frozen=True)
class ActConfig:
    channels: tuple[int, int, int] = (32, 64, 128)  # backbone, each conv with stride 2
    d_model: int = 128
    heads: int = 4
    encoder_layers: int = 2
    decoder_layers: int = 2
    latent_layers: int = 2  # the posterior's encoder over the action chunk (training only)
    feedforward: int = 512
    dropout: float = 0.1
    latent_dim: int = 32
    kl_weight: float = 10.0  # ACT's beta
    token_stride: int = 8  # image tokens on a 1/8 grid (96 px: 12 x 12 tokens); 16: 6 x 6

    def __post_init__(self) -> None:
        check_positive(self, "channels", "d_model", "heads", "encoder_layers", "decoder_layers",
                       "latent_layers", "feedforward", "latent_dim")
        if self.d_model % self.heads or self.d_model % 4:
            raise ValueError(f"ActConfig.d_model must be a multiple of 4 and of heads "
                             f"({self.heads}), got {self.d_model}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"ActConfig.dropout must be in [0, 1), got {self.dropout}")
        if self.token_stride not in (8, 16, 32):
            raise ValueError(f"ActConfig.token_stride must be 8, 16 or 32, got "
                             f"{self.token_stride}")
        if self.kl_weight < 0:
            raise ValueError(f"ActConfig.kl_weight must be >= 0, got {self.kl_weight}")


def backbone(channels: tuple[int, int, int], d_model: int, stride: int) -> nn.Sequential:
    """Normalized image [B, 3, H, W] -> feature map [B, d_model, ceil(H / stride), ceil(W /
    stride)]: stride-2 convolutions, the last width repeated past a stride of 8."""
    c1, c2, c3 = channels
    layers = [nn.Conv2d(3, c1, 5, stride=2, padding=2), nn.ReLU(),
              nn.Conv2d(c1, c2, 3, stride=2, padding=1), nn.ReLU(),
              nn.Conv2d(c2, c3, 3, stride=2, padding=1), nn.ReLU()]
    for _ in range(stride.bit_length() - 1 - 3):
        layers += [nn.Conv2d(c3, c3, 3, stride=2, padding=1), nn.ReLU()]
    return nn.Sequential(*layers, nn.Conv2d(c3, d_model, 1))


def token_grid(size: int, stride: int) -> int:
    """Feature-map rows (or columns) ``backbone`` leaves of ``size`` pixels."""
    for _ in range(stride.bit_length() - 1):
        size = (size + 1) // 2
    return size


def learned(*shape: int) -> nn.Parameter:
    return nn.Parameter(torch.randn(*shape) * 0.02)


class ActPolicy(PolicyModel):
    kind = "act"
    summary = "CVAE action-chunking transformer (ACT); z = 0 at inference"
    config_type = ActConfig

    def __init__(self, shapes: FeatureShapes, config: ActConfig):
        super().__init__(shapes, config)
        d, n_joints = config.d_model, shapes.n_joints
        layer_args = (config.d_model, config.heads, config.feedforward, config.dropout)
        stride = config.token_stride
        self.backbones = nn.ModuleDict({name: backbone(config.channels, d, stride)
                                        for name in shapes.camera_names})
        for camera in shapes.cameras:
            grid = sinusoidal_2d(token_grid(camera.height, stride),
                                 token_grid(camera.width, stride), d)
            self.register_buffer(f"image_position_{camera.name}", grid, persistent=False)
        self.camera_embedding = learned(len(shapes.cameras), d)
        self.latent_in = nn.Linear(config.latent_dim, d)
        self.state_in = nn.Linear(shapes.state_width, d)
        self.token_position = learned(2, d)  # the latent and the state token
        self.encoder = Encoder(config.encoder_layers, *layer_args)
        self.queries = learned(shapes.chunk, d)
        self.decoder = Decoder(config.decoder_layers, *layer_args)
        self.action_out = nn.Linear(d, n_joints)
        # The posterior q(z | action chunk, state): training only, never exported.
        self.posterior_token = learned(1, d)
        self.posterior_state_in = nn.Linear(shapes.state_width, d)
        self.posterior_action_in = nn.Linear(n_joints, d)
        self.posterior_position = learned(shapes.chunk + 2, d)
        self.posterior_encoder = Encoder(config.latent_layers, *layer_args)
        self.posterior_out = nn.Linear(d, 2 * config.latent_dim)

    def forward(self, batch: NormalizedBatch, generator: torch.Generator) -> TrainingLoss:
        mean, log_var = self.posterior(batch.state, batch.target, batch.mask)
        noise = torch.randn(mean.shape, generator=generator).to(mean.device)
        latent = mean + (0.5 * log_var).exp() * noise
        chunk = self.decode(batch.images, batch.state, latent)
        l1 = masked_l1(chunk, batch.target, batch.mask)
        kl = (-0.5 * (1 + log_var - mean.square() - log_var.exp())).sum(-1).mean()
        return TrainingLoss(l1 + self.config.kl_weight * kl, chunk,
                            {"l1": l1.detach(), "kl": kl.detach()})

    def predict(self, images: dict[str, torch.Tensor], state: torch.Tensor) -> torch.Tensor:
        latent = state.new_zeros(state.shape[0], self.config.latent_dim)
        return self.decode(images, state, latent)

    def decode(self, images: dict[str, torch.Tensor], state: torch.Tensor,
               latent: torch.Tensor) -> torch.Tensor:
        tokens = [torch.stack([self.latent_in(latent), self.state_in(state)], dim=1)
                  + self.token_position]
        for i, name in enumerate(self.shapes.camera_names):
            features = self.backbones[name](images[name]).flatten(2).transpose(1, 2)
            tokens.append(features + getattr(self, f"image_position_{name}")
                          + self.camera_embedding[i])
        memory = self.encoder(torch.cat(tokens, dim=1))
        queries = self.queries.expand(state.shape[0], -1, -1)
        return self.action_out(self.decoder(queries, memory))

    def posterior(self, state: torch.Tensor, target: torch.Tensor,
                  mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of z given the chunk; padded chunk steps are not attended."""
        batch = state.shape[0]
        tokens = torch.cat([self.posterior_token.expand(batch, 1, -1),
                            self.posterior_state_in(state).unsqueeze(1),
                            self.posterior_action_in(target)], dim=1) + self.posterior_position
        ignore = torch.cat([mask.new_zeros(batch, 2), ~mask], dim=1)
        summary = self.posterior_encoder(tokens, ignore)[:, 0]
        mean, log_var = self.posterior_out(summary).chunk(2, dim=-1)
        return mean, log_var
