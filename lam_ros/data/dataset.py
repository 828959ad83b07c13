"""Synchronized episodes held in memory as tensors, indexed into training samples.

Every kept frame is a sample: its camera images (uint8 HWC), joint positions, and the chunk of
actions starting at that tick. Chunks running past the episode end repeat the last action and
carry a mask that is False there, so the loss ignores the padding. Per-tick weights (see
``data/corrections.py``) make ``draw`` pick samples in proportion to them; a tick of weight 0
(the policy going wrong before a take-over) is never a sample, and its action is masked out of
the chunks of the samples before it, so it teaches nothing as a later target either.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from lam_ros.core import features
from lam_ros.data.sync import SyncedEpisode

# bool [batch, chunk]: False where the chunk ran past the episode end or reaches a tick of weight 0
ACTION_MASK = "action_mask"


class EpisodeDataset(Dataset):
    """Samples from a list of synchronized episodes; ``batch(indices)`` gathers many at once."""

    def __init__(self, episodes: Sequence[SyncedEpisode], chunk: int,
                 weights: Sequence[np.ndarray] | None = None):
        """``weights``: float [T] per episode (None: every tick counts the same)."""
        if not episodes:
            raise ValueError("EpisodeDataset needs at least one episode")
        if chunk < 1:
            raise ValueError(f"chunk must be >= 1, got {chunk}")
        self.chunk = chunk
        self.camera_names = tuple(episodes[0].images)
        self.images = {name: torch.from_numpy(np.concatenate([e.images[name] for e in episodes]))
                       for name in self.camera_names}
        self.joint_positions = torch.from_numpy(
            np.concatenate([e.joint_positions for e in episodes]))
        pasts = [e.past_positions for e in episodes]
        if any(p is None for p in pasts) and not all(p is None for p in pasts):
            raise ValueError("some episodes carry a state history and some do not")
        # [N, history - 1, J] (data/history.py), or None for a policy without history
        self.past_positions = None if pasts[0] is None else torch.from_numpy(
            np.concatenate(pasts))
        self.actions = torch.from_numpy(np.concatenate([e.actions for e in episodes]))
        lengths = np.array([len(e.stamps_ns) for e in episodes])
        ends = np.cumsum(lengths)
        self.episode_end = torch.from_numpy(np.repeat(ends, lengths))  # exclusive, per tick
        kept = np.concatenate([e.kept for e in episodes])
        self.sample_ticks = torch.from_numpy(np.flatnonzero(kept))
        self.sample_weights = None  # None: uniform
        self.teaches = None  # bool per tick: its action may be a target (None: every tick's)
        if weights is not None:
            every_tick = np.concatenate(weights)
            if not every_tick.all():
                self.teaches = torch.from_numpy(every_tick > 0)
            per_tick = every_tick[kept]
            if not per_tick.sum() > 0:
                raise ValueError("every training sample has weight 0")
            if np.ptp(per_tick) > 0:
                self.sample_weights = torch.from_numpy(per_tick.astype(np.float64))
        self.n_episodes = len(episodes)

    def __len__(self) -> int:
        return len(self.sample_ticks)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {k: v[0] for k, v in self.batch(torch.tensor([index])).items()}

    def draw(self, count: int, generator: torch.Generator) -> torch.Tensor:
        """``count`` sample indices, at random in proportion to the samples' weights."""
        if self.sample_weights is None:
            return torch.randint(0, len(self), (count,), generator=generator)
        return torch.multinomial(self.sample_weights, count, replacement=True,
                                 generator=generator)

    def batch(self, indices: torch.Tensor) -> dict[str, torch.Tensor]:
        """images ``image_<cam>`` uint8 [B, H, W, 3], ``state`` [B, J], ``actions`` [B, chunk, J],
        ``action_mask`` bool [B, chunk], and with a history ``state_history`` [B, history - 1,
        J]."""
        ticks = self.sample_ticks[indices]
        steps = ticks[:, None] + torch.arange(self.chunk)
        ends = self.episode_end[ticks][:, None]
        mask = steps < ends
        steps = torch.minimum(steps, ends - 1)  # pad by repeating the episode's last action
        if self.teaches is not None:
            mask &= self.teaches[steps]
        out = {features.image_key(name): frames[ticks] for name, frames in self.images.items()}
        out[features.STATE] = self.joint_positions[ticks]
        if self.past_positions is not None:
            out[features.STATE_HISTORY] = self.past_positions[ticks]
        out[features.ACTIONS] = self.actions[steps]
        out[ACTION_MASK] = mask
        return out


def split_by_episode(episodes: Sequence[SyncedEpisode], val_fraction: float,
                     seed: int) -> tuple[list[SyncedEpisode], list[SyncedEpisode]]:
    """Whole episodes to train and to validate on, so no validation frame was seen in training.
    At least one episode stays for training; validation is empty when there is only one.

    Validation is drawn from the demonstrations only (when there are any): a correction episode
    (the policy drove part of it) always trains, and adding corrections to the same
    demonstrations leaves the validation episodes as they were, so a policy continued from
    one trained on those demonstrations (``--init-from``) never validates on an episode it
    trained on."""
    demonstrations = [i for i, e in enumerate(episodes)
                      if e.policy_ticks is None or not e.policy_ticks.any()]
    pool = demonstrations or list(range(len(episodes)))
    order = np.random.default_rng(seed).permutation(len(pool))
    n_val = min(len(episodes) - 1, max(1 if len(episodes) > 1 and val_fraction > 0 else 0,
                                       round(val_fraction * len(pool))))
    chosen = {pool[i] for i in order[:n_val]}
    val = [e for i, e in enumerate(episodes) if i in chosen]
    train = [e for i, e in enumerate(episodes) if i not in chosen]
    return train, val
