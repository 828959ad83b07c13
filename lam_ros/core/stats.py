"""Small statistics used in reports."""

from __future__ import annotations

import math

import numpy as np


def wilson_interval(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a success rate (default 95%); sound at 0% and 100% too."""
    if trials <= 0:
        raise ValueError(f"trials must be > 0, got {trials}")
    if not 0 <= successes <= trials:
        raise ValueError(f"successes must be in [0, {trials}], got {successes}")
    p = successes / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def percentiles_ms(samples_s: list[float] | np.ndarray, qs=(50, 99)) -> dict[str, float]:
    """{'p50': .., 'p99': ..} in milliseconds; empty input gives NaN."""
    arr = np.asarray(samples_s, dtype=float) * 1e3
    return {f"p{q}": float(np.percentile(arr, q)) if arr.size else float("nan") for q in qs}
