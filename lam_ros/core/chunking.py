"""Action-chunk scheduling by time, with temporal ensembling as in ACT.

A policy predicts a chunk of K joint targets from one observation. Step k of that chunk is anchored
to the observation's stamp: it is in force during [t_obs + k*period, t_obs + (k+1)*period). At a
control tick, every chunk that has a step in force contributes it, and the contributions are
blended with ACT's exponential weights w_i = exp(-m * i), i = 0 for the oldest chunk: a larger m
leans harder on older predictions and smooths more; m = 0 is a plain mean. A step whose slot has
ended is never sent, however late inference ran; a clock that jumps backwards (a simulation reset)
clears the schedule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Slack for float stamps that should land exactly on a slot boundary.
_EPS = 1e-6


@dataclass(frozen=True)
class ScheduledStep:
    positions: np.ndarray  # blended joint targets, robot units
    start: float  # when the newest contributing step's slot began
    contributors: int  # how many chunks were blended


@dataclass
class _Chunk:
    observation_time: float
    actions: np.ndarray  # [K, n_joints]

    def step_index(self, now: float, period: float) -> int | None:
        k = math.floor((now - self.observation_time) / period + _EPS)
        return k if 0 <= k < len(self.actions) else None


class ChunkScheduler:
    """Holds the chunks that still have steps to come and answers "what is in force now"."""

    def __init__(self, period: float, ensemble_coefficient: float = 0.01):
        if not (math.isfinite(period) and period > 0):
            raise ValueError(f"period must be a finite number > 0, got {period!r}")
        if not (math.isfinite(ensemble_coefficient) and ensemble_coefficient >= 0):
            raise ValueError(
                f"ensemble_coefficient must be a finite number >= 0, got {ensemble_coefficient!r}")
        self.period = period
        self.ensemble_coefficient = ensemble_coefficient
        self._chunks: list[_Chunk] = []
        self._latest_time = -math.inf
        self.resets = 0

    def __len__(self) -> int:
        return len(self._chunks)

    def clear(self) -> None:
        self._chunks.clear()
        self._latest_time = -math.inf

    def observe_clock(self, now: float) -> bool:
        """Notes the time; returns True (and clears) when the clock went backwards."""
        if now < self._latest_time - _EPS:
            self.clear()
            self.resets += 1
            self._latest_time = now
            return True
        self._latest_time = max(self._latest_time, now)
        return False

    def add(self, actions: np.ndarray, observation_time: float) -> None:
        """Schedules a chunk [K, n_joints] predicted from the observation stamped ``t_obs``."""
        actions = np.asarray(actions, dtype=np.float64)
        if actions.ndim != 2 or len(actions) == 0:
            raise ValueError(f"a chunk must be [K>=1, n_joints], got shape {actions.shape}")
        if self._chunks and actions.shape[1] != self._chunks[0].actions.shape[1]:
            raise ValueError(f"chunk has {actions.shape[1]} joints, scheduled chunks have "
                             f"{self._chunks[0].actions.shape[1]}")
        self._chunks.append(_Chunk(observation_time, actions))
        self._chunks.sort(key=lambda c: c.observation_time)

    def step_at(self, now: float) -> ScheduledStep | None:
        """The blended step in force at ``now``, or None when no chunk covers it."""
        self._drop_finished(now)
        steps = [(c, c.step_index(now, self.period)) for c in self._chunks]
        steps = [(c, k) for c, k in steps if k is not None]
        if not steps:
            return None
        weights = np.exp(-self.ensemble_coefficient * np.arange(len(steps)))
        stacked = np.stack([c.actions[k] for c, k in steps])
        blended = weights @ stacked / weights.sum()
        newest, k = steps[-1]
        return ScheduledStep(blended, newest.observation_time + k * self.period, len(steps))

    def _drop_finished(self, now: float) -> None:
        self._chunks = [c for c in self._chunks
                        if now < c.observation_time + len(c.actions) * self.period - _EPS]
