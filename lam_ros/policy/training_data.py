"""The data side of training: converted episodes split into training and validation sets, their
batches normalized (and, for training, augmented) for any policy family, and the held-out frames
of the export's parity check."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from lam_ros.core import features
from lam_ros.core.profile import RobotProfile
from lam_ros.data.cache import ConversionResult, convert_dataset
from lam_ros.data.corrections import tick_weights
from lam_ros.data.dataset import ACTION_MASK, EpisodeDataset, split_by_episode
from lam_ros.data.episode_split import parse_split
from lam_ros.data.history import with_history
from lam_ros.data.idle import trim_idle
from lam_ros.policy.distributed import is_main, rank0_first
from lam_ros.policy.families.base import NormalizedBatch
from lam_ros.policy.model import Normalizer, random_shift, to_float_nchw
from lam_ros.policy.train_config import TrainConfig


def load_data(config: TrainConfig, profile: RobotProfile,
              ) -> tuple[ConversionResult, EpisodeDataset, EpisodeDataset | None]:
    """Converted episodes (cached), idle ticks cut unless kept, split by episode into training
    and validation sets. Rank 0 converts first; the other ranks then read its cache entries."""
    def convert():
        return convert_dataset([config.data_dir, *config.more_data], profile,
                               cache_dir=config.cache_dir or None,
                               include_failed=config.include_failed,
                               allow_profile_mismatch=config.allow_profile_mismatch,
                               split=parse_split(config.split),
                               progress=config.progress and is_main())

    conversion = rank0_first(convert, "convert the data")
    # the history on the whole control grid first: a tick's past includes the pauses cut later
    conversion = replace(conversion, episodes=[with_history(e, config.history)
                                               for e in conversion.episodes])
    if not config.keep_idle:
        conversion = replace(conversion, episodes=[
            trim_idle(e, profile.control_hz, config.max_pause_s) for e in conversion.episodes])
    train, val = split_by_episode(conversion.episodes, config.val_fraction, config.seed)
    val_set = EpisodeDataset(val, config.chunk) if val else None
    weights = [tick_weights(e.policy_ticks, len(e.stamps_ns), profile.control_hz,
                            config.correction_weights) for e in train]
    return conversion, EpisodeDataset(train, config.chunk, weights), val_set


def recorded_task(conversion: ConversionResult) -> str:
    """The one task the episodes were recorded for ("" when they do not say)."""
    tasks = {e.report.get("facts", {}).get(features.EPISODE_TASK, "") for e in conversion.episodes}
    if len(tasks) > 1:
        raise ValueError(f"the episodes were recorded for several tasks {sorted(tasks)}: a "
                         f"policy learns one task, so point --data at one task's folder")
    return next(iter(tasks), "")


def normalized_batch(batch: dict[str, torch.Tensor], normalizer: Normalizer,
                     camera_names: tuple[str, ...], device: torch.device,
                     generator: torch.Generator | None = None, shift_pad: int = 0,
                     state_noise: float = 0.0) -> NormalizedBatch:
    """A dataset batch on ``device``, normalized; with a ``generator``, training augmentation:
    images randomly shifted by up to ``shift_pad`` pixels, Gaussian ``state_noise`` on the
    normalized state (the same draw at every tick of its history)."""
    batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
    images = {}
    for name in camera_names:
        frames = batch[features.image_key(name)]
        if generator is not None and shift_pad:
            frames = random_shift(frames, shift_pad, generator)
        images[name] = normalizer.image(name, to_float_nchw(frames))
    present = batch[features.STATE]
    state = normalizer.observed_state(present, batch.get(features.STATE_HISTORY))
    if generator is not None and state_noise:
        # One shift for every tick of a sample's history: where the arm is gets uncertain, how
        # it moved does not.
        shift = state_noise * torch.randn(present.shape, generator=generator).to(device)
        state = state + shift.repeat(1, state.shape[1] // present.shape[1])
    return NormalizedBatch(images, state, normalizer.action(batch[features.ACTIONS]),
                           batch[ACTION_MASK])


def held_out_frames(source: EpisodeDataset, count: int) -> list[dict[str, np.ndarray]]:
    """Up to ``count`` batch-1 raw inputs spread over ``source``, for the ONNX parity check."""
    picks = np.linspace(0, len(source) - 1, min(count, len(source))).round().astype(int)
    frames = []
    for i in picks:
        sample = source.batch(torch.tensor([int(i)]))
        frames.append({k: v.numpy() for k, v in sample.items()
                       if k.startswith(features.IMAGE_PREFIX)
                       or k in (features.STATE, features.STATE_HISTORY)})
    return frames
