"""Everything a training run holds (``Parts``): the chosen policy family's model, its EMA copy,
the normalizer, optimizer, random stream and data, built once by ``build_parts``."""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass

import torch
import torch.distributed as dist

from lam_ros.core.profile import RobotProfile
from lam_ros.data.dataset import EpisodeDataset
from lam_ros.policy.families import FeatureShapes, PolicyModel, build_policy
from lam_ros.policy.model import Normalizer
from lam_ros.policy.train_config import TrainConfig


@dataclass
class Parts:
    """Everything the loop touches, built once."""

    policy: torch.nn.Module  # ``core``, DDP-wrapped when distributed: train through this one
    core: PolicyModel
    ema: PolicyModel  # what is validated, checkpointed and exported
    normalizer: Normalizer
    optimizer: torch.optim.Optimizer
    generator: torch.Generator  # batches, augmentation and the families' noise
    train_set: EpisodeDataset  # stays in host memory; batches move to ``device``
    val_set: EpisodeDataset | None
    device: torch.device
    # The EMA weights of the lowest validation L1 so far (TrainConfig.keep == "best"), with
    # that L1 and step; None until the first validation or when keeping the last weights.
    best: PolicyModel | None = None
    best_val: float = float("inf")
    best_step: int = 0

    def kept(self) -> PolicyModel:
        """The weights to export and to continue from."""
        return self.best if self.best is not None else self.ema

    def remember_if_best(self, step: int, val_l1: float | None) -> None:
        if val_l1 is not None and val_l1 < self.best_val:
            self.best = copy.deepcopy(self.ema)
            self.best_val, self.best_step = val_l1, step


def build_parts(config: TrainConfig, profile: RobotProfile, train_set: EpisodeDataset,
                val_set: EpisodeDataset | None, rank: int, device: torch.device) -> Parts:
    torch.manual_seed(config.seed)  # same initial weights on every rank
    shapes = FeatureShapes.for_profile(profile, config.chunk, config.history)
    core = build_policy(config.policy, shapes, config.policy_options).to(device)
    normalizer = Normalizer(shapes.camera_names, profile.n_joints)
    normalizer.fit(train_set.images, train_set.joint_positions, train_set.actions)
    normalizer.to(device)
    policy: torch.nn.Module = core
    if dist.is_initialized():
        device_ids = [device.index] if device.type == "cuda" else None
        # The 1x1 keypoint conv's grad has odd strides on its size-1 dims; DDP copies it
        # correctly and warns every step, which would bury the progress bar.
        warnings.filterwarnings("ignore", message="Grad strides do not match bucket view")
        policy = torch.nn.parallel.DistributedDataParallel(core, device_ids=device_ids)
    optimizer = torch.optim.AdamW(core.parameters(), lr=config.lr,
                                  weight_decay=config.weight_decay)
    generator = torch.Generator().manual_seed(config.seed * 1000 + rank)
    ema = copy.deepcopy(core).requires_grad_(False)
    return Parts(policy, core, ema, normalizer, optimizer, generator, train_set, val_set,
                 device)
