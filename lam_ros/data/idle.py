"""Idle time cut out of demonstrations before training (pure numpy).

A person with a joystick idles before the first motion and after the last, and pauses in the
middle; the scripted expert does neither. Frames in which nothing happens teach a policy to sit
still: from the same picture and joint state it sees "hold" as often as "go", and a rollout that
holds once sees the same picture again. Measured on the joystick demo (``pick_place``, 50
careful-operator demonstrations): see docs/results.md "Training on human demonstrations".

A tick is still when neither the command in force nor the measured joints changed from the tick
before (fingers closing on an object are motion; a person waiting for them after they stopped
is not). ``trim_idle`` drops the still run before the first motion and after the last, and
shortens every still run in between to ``max_pause_s``. The trainer keeps none (0 s): a person
who waits for the hand to settle before pressing "open" leaves a few still ticks over the goal,
and a policy trained on them held the cube there (0 of 14 rollouts; 93/100 without them).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from lam_ros.data.sync import SyncedEpisode

STILL_JOINT = 1e-3  # largest joint change per tick (rad or m) of a joint at rest
STILL_COMMAND = 1e-4  # largest command change per tick of an unchanged command


def still_ticks(joint_positions: np.ndarray, actions: np.ndarray) -> np.ndarray:
    """bool [T]: nothing moved or changed since the tick before (tick 0: as tick 1)."""
    if len(joint_positions) < 2:
        return np.zeros(len(joint_positions), bool)
    moved = np.abs(np.diff(joint_positions, axis=0)).max(axis=1) > STILL_JOINT
    changed = np.abs(np.diff(actions, axis=0)).max(axis=1) > STILL_COMMAND
    still = ~(moved | changed)
    return np.concatenate([still[:1], still])


def active_ticks(still: np.ndarray, max_pause_ticks: int) -> np.ndarray:
    """bool [T]: the ticks to keep. None before the first non-still tick or after the last;
    of each still run between them, its first ``max_pause_ticks``."""
    keep = ~still
    if not keep.any():
        return keep
    first, last = int(np.argmax(keep)), len(keep) - 1 - int(np.argmax(keep[::-1]))
    run = 0
    for t in range(first, last + 1):
        run = run + 1 if still[t] else 0
        keep[t] = run <= max_pause_ticks
    return keep


def trim_idle(episode: SyncedEpisode, control_hz: float, max_pause_s: float) -> SyncedEpisode:
    """The episode without its idle ticks (see the module docstring); its report says how many
    went. An episode in which nothing ever moves is returned whole (conversion names it)."""
    still = still_ticks(episode.joint_positions, episode.actions)
    keep = active_ticks(still, int(round(max_pause_s * control_hz)))
    if not keep.any():
        return episode
    report = {**episode.report, "idle_ticks_cut": int((~keep).sum())}
    return replace(episode, stamps_ns=episode.stamps_ns[keep],
                   joint_positions=episode.joint_positions[keep], actions=episode.actions[keep],
                   images={name: frames[keep] for name, frames in episode.images.items()},
                   kept=episode.kept[keep], report=report,
                   policy_ticks=None if episode.policy_ticks is None
                   else episode.policy_ticks[keep],
                   past_positions=None if episode.past_positions is None
                   else episode.past_positions[keep])
