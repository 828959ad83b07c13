"""The joint positions a policy with history sees at each tick: those of the ticks before it.

Computed on an episode's whole control grid, before idle ticks are cut (data/idle.py), so a
tick's history is what the arm did in the control periods before it, pauses included, whatever
ticks training later leaves out. Before the episode's first tick the arm is taken to have been
where it was then, as core/state_history.py does at run time before its oldest reading.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from lam_ros.data.sync import SyncedEpisode


def past_positions(joint_positions: np.ndarray, history: int) -> np.ndarray:
    """[T, history - 1, J]: for each tick t the positions at t - history + 1 .. t - 1, clamped
    at tick 0."""
    ticks = np.arange(len(joint_positions))[:, None] - np.arange(history - 1, 0, -1)
    return joint_positions[np.maximum(ticks, 0)]


def with_history(episode: SyncedEpisode, history: int) -> SyncedEpisode:
    """``episode`` with its ``past_positions`` for a policy seeing ``history`` ticks (the
    episode unchanged for 1)."""
    if history < 1:
        raise ValueError(f"history must be >= 1, got {history}")
    if history == 1:
        return episode
    return replace(episode, past_positions=past_positions(episode.joint_positions, history))
