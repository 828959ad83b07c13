"""Feature statistics as LeRobot keeps them (``meta/stats.json``, ``stats/*`` in the episodes
table): min, max, mean, std, count and the quantiles q01, q10, q50, q90, q99 that its
normalizers read.

Vectors get one value per component over the frames. Images get one value per colour channel,
shaped [3, 1, 1] and scaled to [0, 1] (pixel / 255), with ``count`` the number of frames. Image
statistics are exact: they come from a per-channel histogram of every pixel, and the histograms
of several episodes add up to the dataset's.
"""

from __future__ import annotations

import numpy as np

QUANTILES = (0.01, 0.10, 0.50, 0.90, 0.99)
LEVELS = 256  # uint8 grey levels


def quantile_key(q: float) -> str:
    return f"q{round(q * 100):02d}"


def vector_stats(values: np.ndarray) -> dict[str, np.ndarray]:
    """Statistics over the rows of ``values`` ([n] or [n, d]), per component ([1] or [d])."""
    x = values.reshape(len(values), -1).astype(np.float64)
    stats = {"min": x.min(axis=0), "max": x.max(axis=0), "mean": x.mean(axis=0),
             "std": x.std(axis=0), "count": np.array([len(x)])}
    stats.update({quantile_key(q): np.quantile(x, q, axis=0) for q in QUANTILES})
    return stats


def image_histogram(frames: np.ndarray) -> np.ndarray:
    """Pixel counts per channel and grey level, int64 [3, 256], of uint8 frames [n, H, W, 3]."""
    return np.stack([np.bincount(frames[..., c].ravel(), minlength=LEVELS)
                     for c in range(frames.shape[-1])])


def image_stats(histogram: np.ndarray, frames: int) -> dict[str, np.ndarray]:
    """Per-channel statistics [3, 1, 1] in [0, 1] from ``image_histogram`` counts of ``frames``
    frames; a quantile is the lowest level that reaches its share of the pixels."""
    levels = np.arange(LEVELS) / (LEVELS - 1)
    pixels = histogram.sum(axis=1, keepdims=True)
    cumulative = np.cumsum(histogram, axis=1)
    mean = (histogram @ levels) / pixels[:, 0]
    variance = (histogram @ levels**2) / pixels[:, 0] - mean**2
    present = histogram > 0
    stats = {"min": levels[present.argmax(axis=1)],
             "max": levels[LEVELS - 1 - present[:, ::-1].argmax(axis=1)],
             "mean": mean, "std": np.sqrt(np.maximum(variance, 0.0))}
    stats.update({quantile_key(q): levels[(cumulative < q * pixels).sum(axis=1)]
                  for q in QUANTILES})
    stats = {key: value.reshape(-1, 1, 1) for key, value in stats.items()}
    return {**stats, "count": np.array([frames])}
