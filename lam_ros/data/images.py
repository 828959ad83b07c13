"""Camera frames to the RGB arrays the policy sees: one implementation for bag conversion
(training) and for the inference node, so the two cannot drift apart."""

from __future__ import annotations

import cv2
import numpy as np


def raw_to_rgb(data: bytes | np.ndarray, height: int, width: int, step: int,
               encoding: str) -> np.ndarray:
    """An rgb8/bgr8 sensor_msgs/Image payload as an HxWx3 uint8 RGB array (a view when rgb8)."""
    if encoding not in ("rgb8", "bgr8"):
        raise ValueError(f"image encoding {encoding!r} is not rgb8 or bgr8")
    if height <= 0 or width <= 0 or step < width * 3 or len(data) != height * step:
        raise ValueError(f"image of {width}x{height} with step {step} cannot hold "
                         f"{len(data)} bytes of {encoding}")
    rows = np.frombuffer(data, np.uint8).reshape(height, step)
    rgb = rows[:, : width * 3].reshape(height, width, 3)
    return rgb[..., ::-1] if encoding == "bgr8" else rgb


def compressed_to_rgb(data: bytes | np.ndarray) -> np.ndarray:
    """A sensor_msgs/CompressedImage payload (jpeg, png) as HxWx3 uint8 RGB."""
    buffer = np.frombuffer(data, np.uint8)
    bgr = cv2.imdecode(buffer, cv2.IMREAD_COLOR) if buffer.size else None
    if bgr is None:
        raise ValueError(f"undecodable compressed image ({buffer.size} bytes)")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def to_policy_size(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resized (area interpolation) to the size in the robot profile; contiguous."""
    if rgb.shape[:2] != (height, width):
        rgb = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(rgb)
