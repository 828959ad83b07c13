"""What a training run is told (``TrainConfig``), and how it says it failed (``TrainingError``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lam_ros.data.corrections import CorrectionWeights
from lam_ros.data.episode_split import parse_split
from lam_ros.policy.families import DEFAULT_FAMILY, family

KEEP_CHOICES = ("best", "last")


class TrainingError(ValueError):
    """Training diverged (bad data or settings); the message says what and at which step."""


@dataclass(frozen=True)
class TrainConfig:
    data_dir: str
    out_dir: str
    profile: str  # the robot the episodes were recorded for: name or YAML path, never implied
    policy: str = DEFAULT_FAMILY  # the policy family (policy/families): conv, act or flow
    # Overrides of the family's hyperparameters (field name -> value); its config dataclass
    # holds the defaults and checks the values.
    policy_options: dict[str, Any] = field(default_factory=dict)
    steps: int = 6000
    minutes: float = 0.0  # wall-clock budget; 0 = none. The LR schedule follows whichever ends
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 200
    # The LR holds at its peak and anneals (cosine) over this last share of the budget. A
    # budget-long cosine anneals too early on a slow machine: the xArm's 15-minute run at 290
    # samples/s stalled at validation L1 0.0114 rad, while the same steps at a higher LR reached
    # 0.0077.
    lr_decay_fraction: float = 0.3
    ema_decay: float = 0.995
    chunk: int = 10
    # Control ticks of joint positions the policy sees: the present and history - 1 ticks
    # before it (the images stay the present's). 1: the present only.
    history: int = 1
    # Random-shift augmentation, pixels. A camera fixed to the robot's base shows where objects
    # are, and a shift moves them: ACT on pick_place_random reached 67/100 with 0, against 51-55
    # with 4 (docs/results.md "Task suite"); conv did not change.
    shift_pad: int = 4
    # Gaussian noise on the normalized joint-state input of training batches. Without it the
    # policy leans on "the next target is near the current joints" and under-reaches short
    # moves (closed loop: every miss was a cube near the arm's start, where the move is short).
    state_noise: float = 0.5
    val_fraction: float = 0.1
    eval_every: int = 500
    # Which EMA weights are exported: "best", those of the lowest validation L1 (checked every
    # eval_every steps), or "last". act on pick_place_random overfits past ~1000 steps: 15 min
    # (1198 steps, val L1 0.0257 rad) reached 55/100, 30 min (2038 steps, 0.0342) far less.
    keep: str = "best"
    checkpoint_every: int = 500
    seed: int = 0
    include_failed: bool = False
    more_data: tuple[str, ...] = ()  # further episode folders (a correction round's, say)
    # A finished run's folder (its checkpoint) to continue from: same family and config; its
    # weights and normalization are the start, the optimizer and schedule begin anew.
    init_from: str = ""
    correction_weights: CorrectionWeights = field(default_factory=CorrectionWeights)
    # Idle ticks (data/idle.py) are cut: before the first motion, after the last, and every
    # pause beyond max_pause_s (none kept by default: see data/idle.py). keep_idle trains on the
    # recording as it is.
    keep_idle: bool = False
    max_pause_s: float = 0.0
    allow_profile_mismatch: bool = False  # train on episodes recorded for another profile
    # How long bags split into episodes (data/episode_split.py): gap:TOPIC:SECONDS,
    # topic:TOPIC or times:FILE; "" = one episode per bag
    split: str = ""
    resume: bool = False
    cache_dir: str = ""  # "" = the user cache (~/.cache/lam_ros/episodes)
    parity_frames: int = 16
    progress: bool = True

    def __post_init__(self) -> None:
        for key in ("steps", "batch_size", "chunk", "history", "eval_every",
                    "checkpoint_every", "parity_frames"):
            if getattr(self, key) < 1:
                raise ValueError(f"TrainConfig.{key} must be >= 1, got {getattr(self, key)}")
        for key in ("minutes", "warmup_steps", "shift_pad", "weight_decay", "state_noise",
                    "max_pause_s"):
            if getattr(self, key) < 0:
                raise ValueError(f"TrainConfig.{key} must be >= 0, got {getattr(self, key)}")
        if not 0 < self.lr < 1:
            raise ValueError(f"TrainConfig.lr must be in (0, 1), got {self.lr}")
        if not 0 < self.lr_decay_fraction <= 1:
            raise ValueError(f"TrainConfig.lr_decay_fraction must be in (0, 1], "
                             f"got {self.lr_decay_fraction}")
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"TrainConfig.ema_decay must be in [0, 1), got {self.ema_decay}")
        if not 0 <= self.val_fraction < 1:
            raise ValueError(f"TrainConfig.val_fraction must be in [0, 1), "
                             f"got {self.val_fraction}")
        if self.keep not in KEEP_CHOICES:
            raise ValueError(f"TrainConfig.keep must be one of {', '.join(KEEP_CHOICES)}, "
                             f"got {self.keep!r}")
        family(self.policy).make_config(self.policy_options)  # names a bad one
        parse_split(self.split)  # names a bad rule

