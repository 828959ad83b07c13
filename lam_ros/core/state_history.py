"""Joint positions at the control ticks before an observation, for a policy trained with history.

Training gives such a policy the joint positions linearly interpolated at the control ticks
before each sample (``data/history.py``), clamped at the episode's start. At run time the same
comes from the readings kept here: for an observation stamped ``s``, the positions interpolated
at ``s - k * period`` for k = history - 1 .. 1, clamped at the oldest reading kept (so the first
observations after a start see the arm as if it had been still, as an episode's first ticks do).
"""

from __future__ import annotations

from collections import deque

import numpy as np


class StateHistory:
    def __init__(self, history: int, period: float):
        if history < 1:
            raise ValueError(f"history must be >= 1, got {history}")
        self.history = history
        self.period = period
        self._readings: deque[tuple[float, np.ndarray]] = deque()

    def add(self, stamp: float, positions: np.ndarray) -> None:
        """A reading. A non-finite one is left out (training interpolates across them too); one
        stamped at or a little before the newest is ignored (out of order); one stamped more
        than a period before the newest starts the history again (the clock jumped back)."""
        positions = np.asarray(positions, dtype=np.float64)
        if self.history == 1 or not np.isfinite(positions).all():
            return
        if self._readings and stamp <= self._readings[-1][0]:
            if stamp >= self._readings[-1][0] - self.period:
                return
            self._readings.clear()
        self._readings.append((stamp, positions))
        span = self.history * self.period  # kept: one reading at or before the oldest tick
        while len(self._readings) > 1 and self._readings[1][0] <= stamp - span:
            self._readings.popleft()

    def restart(self, stamp: float | None = None, positions: np.ndarray | None = None) -> None:
        """Forgets the readings, keeping (given) the newest one: at a clock reset, or when the
        policy is enabled, the arm counts as having been still where it is now, as it has at an
        episode's start in training."""
        self._readings.clear()
        if stamp is not None:
            self.add(stamp, positions)

    def before(self, stamp: float) -> np.ndarray | None:
        """[history - 1, n_joints]: positions at the ticks before ``stamp``, oldest first; None
        for a policy without history or before any reading."""
        if self.history == 1 or not self._readings:
            return None
        stamps = np.array([s for s, _ in self._readings])
        values = np.stack([v for _, v in self._readings])
        ticks = stamp - self.period * np.arange(self.history - 1, 0, -1)
        return np.stack([np.interp(ticks, stamps, values[:, j])
                         for j in range(values.shape[1])], axis=1)
