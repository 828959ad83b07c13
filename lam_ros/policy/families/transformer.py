"""Pre-norm transformer encoder and decoder layers for the `act` family.

Attention is written out in MatMul and Softmax rather than taken from ``nn.MultiheadAttention``:
torch switches that module to fused kernels in eval mode, and what those export to (and how
close they stay to onnxruntime) depends on the torch version. Plain ops export the same graph
that trained.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


class Attention(nn.Module):
    def __init__(self, d_model: int, heads: int):
        super().__init__()
        self.heads = heads
        self.scale = 1.0 / math.sqrt(d_model // heads)
        self.query = nn.Linear(d_model, d_model)
        self.key_value = nn.Linear(d_model, 2 * d_model)
        self.out = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor, context: torch.Tensor,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        """``x`` [B, T, D] attends over ``context`` [B, S, D]; ``mask`` [B, S] is True where
        a context token must be ignored."""
        batch, _, d_model = x.shape
        head_dim = d_model // self.heads
        q = self.query(x).reshape(batch, -1, self.heads, head_dim).transpose(1, 2)
        k, v = (self.key_value(context).reshape(batch, -1, 2, self.heads, head_dim)
                .permute(2, 0, 3, 1, 4).unbind(0))
        scores = (q @ k.transpose(-1, -2)) * self.scale  # [B, heads, T, S]
        if mask is not None:
            scores = scores.masked_fill(mask[:, None, None, :], float("-inf"))
        out = F.softmax(scores, dim=-1) @ v
        return self.out(out.transpose(1, 2).reshape(batch, -1, d_model))


def feedforward(d_model: int, hidden: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_model, hidden), nn.GELU(), nn.Dropout(dropout),
                         nn.Linear(hidden, d_model))


class EncoderLayer(nn.Module):
    def __init__(self, d_model: int, heads: int, hidden: int, dropout: float):
        super().__init__()
        self.norm_attention, self.norm_ff = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.attention = Attention(d_model, heads)
        self.ff = feedforward(d_model, hidden, dropout)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        normed = self.norm_attention(x)
        x = x + self.dropout(self.attention(normed, normed, mask))
        return x + self.dropout(self.ff(self.norm_ff(x)))


class DecoderLayer(nn.Module):
    def __init__(self, d_model: int, heads: int, hidden: int, dropout: float):
        super().__init__()
        self.norm_self, self.norm_cross, self.norm_ff = (nn.LayerNorm(d_model) for _ in range(3))
        self.self_attention = Attention(d_model, heads)
        self.cross_attention = Attention(d_model, heads)
        self.ff = feedforward(d_model, hidden, dropout)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        normed = self.norm_self(x)
        x = x + self.dropout(self.self_attention(normed, normed))
        x = x + self.dropout(self.cross_attention(self.norm_cross(x), memory))
        return x + self.dropout(self.ff(self.norm_ff(x)))


class Encoder(nn.Module):
    def __init__(self, layers: int, d_model: int, heads: int, hidden: int, dropout: float):
        super().__init__()
        self.layers = nn.ModuleList(EncoderLayer(d_model, heads, hidden, dropout)
                                    for _ in range(layers))
        self.norm = nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x, mask)
        return self.norm(x)


class Decoder(nn.Module):
    def __init__(self, layers: int, d_model: int, heads: int, hidden: int, dropout: float):
        super().__init__()
        self.layers = nn.ModuleList(DecoderLayer(d_model, heads, hidden, dropout)
                                    for _ in range(layers))
        self.norm = nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x, memory)
        return self.norm(x)


def sinusoidal_2d(height: int, width: int, dim: int) -> torch.Tensor:
    """Fixed position embedding [height * width, dim] of a feature-map grid, row-major: sine
    and cosine of the row in the first half, of the column in the second (DETR-style)."""
    quarter = dim // 4
    frequencies = 1.0 / (10000.0 ** (torch.arange(quarter, dtype=torch.float32) / quarter))

    def embed(count: int) -> torch.Tensor:
        angles = torch.arange(count, dtype=torch.float32)[:, None] * frequencies
        return torch.cat([angles.sin(), angles.cos()], dim=1)  # [count, dim / 2]

    rows = embed(height)[:, None, :].expand(height, width, 2 * quarter)
    cols = embed(width)[None, :, :].expand(height, width, 2 * quarter)
    return torch.cat([rows, cols], dim=-1).reshape(height * width, 4 * quarter)
