"""Trains the default policy from episode bags and exports it: ``train_policy(config)``.

Seeded and reproducible; AdamW with warmup + cosine LR; an EMA of the weights is what gets
validated and exported. Runs under torchrun (DistributedDataParallel, gloo on CPU, nccl on GPU):
every rank draws its own batches, gradients are averaged, so all ranks keep identical weights.
The whole converted dataset stays in memory as tensors, so fetching a batch is one gather.
"""

from __future__ import annotations

import copy
import json
import math
import os
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from lam_ros.core import features
from lam_ros.core.profile import RobotProfile, load_profile
from lam_ros.data.cache import convert_dataset
from lam_ros.data.dataset import ACTION_MASK, EpisodeDataset, split_by_episode
from lam_ros.policy.card import PolicyCard
from lam_ros.policy.checkpoint import load_checkpoint, save_checkpoint
from lam_ros.policy.export import ExportResult, export_policy
from lam_ros.policy.model import (
    ExportedPolicy,
    Normalizer,
    PolicyConfig,
    VisuomotorPolicy,
    count_parameters,
    random_shift,
    to_float_nchw,
)

CHECKPOINT = "checkpoint.safetensors"
MODEL_FILE = "policy.onnx"


class TrainingError(ValueError):
    """Training diverged (bad data or settings); the message says what and at which step."""


@dataclass(frozen=True)
class TrainConfig:
    data_dir: str
    out_dir: str
    profile: str  # the robot the episodes were recorded for: name or YAML path, never implied
    steps: int = 6000
    minutes: float = 0.0  # wall-clock budget; 0 = none. The LR schedule follows whichever ends
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 200
    ema_decay: float = 0.995
    chunk: int = 10
    shift_pad: int = 4  # random-shift augmentation, pixels
    # Gaussian noise on the normalized joint-state input of training batches. Without it the
    # policy leans on "the next target is near the current joints" and under-reaches short
    # moves (closed loop: every miss was a cube near the arm's start, where the move is short).
    state_noise: float = 0.5
    val_fraction: float = 0.1
    eval_every: int = 500
    checkpoint_every: int = 500
    seed: int = 0
    include_failed: bool = False
    allow_profile_mismatch: bool = False  # train on episodes recorded for another profile
    resume: bool = False
    cache_dir: str = ""  # "" = the user cache (~/.cache/lam_ros/episodes)
    parity_frames: int = 16
    progress: bool = True

    def __post_init__(self) -> None:
        for key in ("steps", "batch_size", "chunk", "eval_every", "checkpoint_every",
                    "parity_frames"):
            if getattr(self, key) < 1:
                raise ValueError(f"TrainConfig.{key} must be >= 1, got {getattr(self, key)}")
        for key in ("minutes", "warmup_steps", "shift_pad", "weight_decay", "state_noise"):
            if getattr(self, key) < 0:
                raise ValueError(f"TrainConfig.{key} must be >= 0, got {getattr(self, key)}")
        if not 0 < self.lr < 1:
            raise ValueError(f"TrainConfig.lr must be in (0, 1), got {self.lr}")
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"TrainConfig.ema_decay must be in [0, 1), got {self.ema_decay}")
        if not 0 <= self.val_fraction < 1:
            raise ValueError(f"TrainConfig.val_fraction must be in [0, 1), "
                             f"got {self.val_fraction}")


@dataclass
class TrainResult:
    out_dir: Path
    model_path: Path | None  # None on ranks other than 0
    card_path: Path | None
    curve_path: Path | None
    checkpoint_path: Path
    steps: int
    train_seconds: float
    samples_per_s: float
    data_wait_share: float  # fraction of step time spent fetching batches
    val_l1: float  # EMA model, robot units (rad, m), nan without validation episodes
    train_l1: float
    onnx_max_abs_diff: float
    episodes: int
    frames: int
    history: list[dict] = field(default_factory=list)


@dataclass
class Parts:
    """Everything the loop touches, built once."""

    policy: torch.nn.Module  # DDP-wrapped when distributed
    core: VisuomotorPolicy
    ema: VisuomotorPolicy
    normalizer: Normalizer
    optimizer: torch.optim.Optimizer
    generator: torch.Generator
    train_set: EpisodeDataset  # stays in host memory; batches move to ``device``
    val_set: EpisodeDataset | None
    device: torch.device


def is_main() -> bool:
    return not dist.is_initialized() or dist.get_rank() == 0


def setup_distributed() -> tuple[int, torch.device]:
    """(rank, device); joins the process group when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    device = torch.device("cpu")
    if torch.cuda.is_available():
        local_rank, visible = int(os.environ.get("LOCAL_RANK", "0")), torch.cuda.device_count()
        if local_rank >= visible:
            raise TrainingError(f"LOCAL_RANK {local_rank} but only {visible} GPU(s) visible; "
                                f"use --nproc_per_node <= {visible}")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    rank = dist.get_rank() if dist.is_initialized() else 0
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // local_world))
    return rank, device


def load_data(config: TrainConfig, profile: RobotProfile):
    """Converted episodes (cached), split by episode into training and validation sets.
    Rank 0 converts first; the other ranks then read its cache entries, or stop with its error
    instead of waiting for it forever."""
    def convert():
        return convert_dataset(config.data_dir, profile, cache_dir=config.cache_dir or None,
                               include_failed=config.include_failed,
                               allow_profile_mismatch=config.allow_profile_mismatch,
                               progress=config.progress and is_main())

    if not dist.is_initialized():
        conversion = convert()
    else:
        conversion, failure = None, [""]
        if is_main():
            try:
                conversion = convert()
            except Exception as exc:  # told to every rank below, then raised here
                failure = [f"{type(exc).__name__}: {exc}"]
                error = exc
        dist.broadcast_object_list(failure, src=0)  # the other ranks wait here for rank 0
        if failure[0]:
            if is_main():
                raise error
            raise RuntimeError(f"rank 0 could not convert the data: {failure[0]}")
        conversion = conversion or convert()
    train, val = split_by_episode(conversion.episodes, config.val_fraction, config.seed)
    val_set = EpisodeDataset(val, config.chunk) if val else None
    return conversion, EpisodeDataset(train, config.chunk), val_set


def build_parts(config: TrainConfig, profile: RobotProfile, train_set: EpisodeDataset,
                val_set: EpisodeDataset | None, rank: int, device: torch.device) -> Parts:
    torch.manual_seed(config.seed)  # same initial weights on every rank
    policy_config = PolicyConfig(tuple(c.name for c in profile.cameras), profile.n_joints,
                                 config.chunk)
    core = VisuomotorPolicy(policy_config).to(device)
    normalizer = Normalizer(policy_config.camera_names, profile.n_joints)
    normalizer.fit(train_set.images, train_set.joint_positions, train_set.actions)
    normalizer.to(device)
    policy = core
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


def lr_factor(progress: float, step: int, warmup_steps: int) -> float:
    warm = min(1.0, (step + 1) / warmup_steps) if warmup_steps else 1.0
    return warm * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def prepare(parts: Parts, batch: dict[str, torch.Tensor], shift_pad: int, augment: bool,
            state_noise: float = 0.0) -> tuple[dict, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Normalized (and on training batches randomly shifted) model inputs and targets."""
    batch = {k: v.to(parts.device, non_blocking=True) for k, v in batch.items()}
    images = {}
    for name in parts.core.config.camera_names:
        frames = batch[features.image_key(name)]
        if augment and shift_pad:
            frames = random_shift(frames, shift_pad, parts.generator)
        images[name] = parts.normalizer.image(name, to_float_nchw(frames))
    state = parts.normalizer.state(batch[features.STATE])
    if augment and state_noise:
        state = state + state_noise * torch.randn(state.shape, generator=parts.generator).to(
            state.device)
    target = parts.normalizer.action(batch[features.ACTIONS])
    return images, state, target, batch[ACTION_MASK]


def masked_l1(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
              scale: torch.Tensor | None = None) -> torch.Tensor:
    """Mean |pred - target| over real (unpadded) chunk steps; ``scale`` maps back to robot
    units."""
    err = (pred - target).abs()
    if scale is not None:
        err = err * scale
    weights = mask.unsqueeze(-1).to(err.dtype).expand_as(err)
    return (err * weights).sum() / weights.sum().clamp_min(1.0)


@torch.no_grad()
def update_ema(ema: torch.nn.Module, model: torch.nn.Module, decay: float, step: int) -> None:
    decay = min(decay, (1.0 + step) / (10.0 + step))  # early on, follow the fast-moving weights
    torch._foreach_lerp_(list(ema.parameters()), list(model.parameters()), 1.0 - decay)


@torch.no_grad()
def validate(parts: Parts, batch_size: int) -> float | None:
    """EMA model's L1 in robot units over every validation sample; None without validation
    episodes."""
    if parts.val_set is None:
        return None
    parts.ema.eval()
    total, weight = 0.0, 0.0
    for start in range(0, len(parts.val_set), batch_size):
        indices = torch.arange(start, min(start + batch_size, len(parts.val_set)))
        images, state, target, mask = prepare(parts, parts.val_set.batch(indices), 0, False)
        n = float(mask.sum()) * target.shape[-1]
        total += float(masked_l1(parts.ema(images, state), target, mask,
                                 parts.normalizer.action_std)) * n
        weight += n
    return total / max(weight, 1.0)


class Clock:
    """Training time and the stop decision, agreed across ranks (rank 0's clock rules)."""

    def __init__(self, config: TrainConfig, elapsed_before: float, device: torch.device):
        self.config = config
        self.device = device  # nccl only moves GPU tensors
        self.started = time.perf_counter() - elapsed_before

    def elapsed(self) -> float:
        seconds = torch.tensor([time.perf_counter() - self.started], dtype=torch.float64,
                               device=self.device)
        if dist.is_initialized():
            dist.broadcast(seconds, src=0)
        return float(seconds)

    def progress(self, step: int, elapsed: float) -> float:
        by_steps = step / self.config.steps
        by_time = elapsed / (60.0 * self.config.minutes) if self.config.minutes else 0.0
        return max(by_steps, by_time)


def train_step(parts: Parts, config: TrainConfig, step: int,
               lr_scale: float) -> tuple[float, float]:
    """One optimizer step; returns (train L1 in robot units, seconds spent fetching data)."""
    fetch_began = time.perf_counter()
    indices = torch.randint(0, len(parts.train_set), (config.batch_size,),
                            generator=parts.generator)
    batch = parts.train_set.batch(indices)
    fetch_seconds = time.perf_counter() - fetch_began
    images, state, target, mask = prepare(parts, batch, config.shift_pad, augment=True,
                                          state_noise=config.state_noise)
    for group in parts.optimizer.param_groups:
        group["lr"] = config.lr * lr_scale
    pred = parts.policy(images, state)
    loss = masked_l1(pred, target, mask)
    parts.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    parts.optimizer.step()
    update_ema(parts.ema, parts.core, config.ema_decay, step)
    with torch.no_grad():
        robot_l1 = masked_l1(pred, target, mask, parts.normalizer.action_std)
    return float(robot_l1), fetch_seconds


def run_loop(parts: Parts, config: TrainConfig, out_dir: Path, start_step: int,
             counters: dict) -> dict:
    """Trains until the step or time budget ends; returns the loop's counters."""
    from lam_ros.policy.training_log import TrainingLog

    log = TrainingLog(out_dir, enabled=is_main(), history=counters.get("history", []))
    clock = Clock(config, counters.get("elapsed", 0.0), parts.device)
    step, fetch_total, loop_began = start_step, 0.0, time.perf_counter()
    # No total (so no ETA) on a time budget; one redraw a second is plenty for a long run.
    bar = tqdm(total=None if config.minutes else config.steps, initial=step, desc="training",
               unit="step", mininterval=1.0, disable=not (config.progress and is_main()))
    elapsed, train_l1, recent = clock.elapsed(), float("nan"), []
    while clock.progress(step, elapsed) < 1.0:
        lr_scale = lr_factor(clock.progress(step, elapsed), step, config.warmup_steps)
        batch_l1, fetch_seconds = train_step(parts, config, step, lr_scale)
        recent.append(batch_l1)
        fetch_total += fetch_seconds
        step += 1
        elapsed = clock.elapsed()
        rate = (step - start_step) * config.batch_size / (time.perf_counter() - loop_began)
        bar.set_postfix(l1=f"{batch_l1:.4f}", samples_s=f"{rate:.0f}", refresh=False)
        bar.update(1)  # redraws at most once a second, with the postfix just set
        log.scalar("train/l1_robot_units", batch_l1, step)
        log.scalar("train/lr", config.lr * lr_scale, step)
        finished = clock.progress(step, elapsed) >= 1.0
        if step % config.eval_every == 0 or finished:
            train_l1, recent = float(np.mean(recent)), []  # mean since the last validation
            val_l1 = validate(parts, config.batch_size)
            if val_l1 is not None and not math.isfinite(val_l1):
                raise TrainingError(f"validation L1 is {val_l1} at step {step}: the model's "
                                    "output is not finite (training diverged); nothing is "
                                    "exported, the last checkpoint is kept")
            log.validation(step, train_l1, val_l1)
        if step % config.checkpoint_every == 0 or finished:
            save_progress(parts, out_dir, step, elapsed, log.history)
    bar.close()
    log.close()
    loop_seconds = time.perf_counter() - loop_began
    world = dist.get_world_size() if dist.is_initialized() else 1
    steps_run = (step - start_step) * world
    return {"step": step, "elapsed": elapsed, "history": log.history, "train_l1": train_l1,
            "samples_per_s": steps_run * config.batch_size / max(loop_seconds, 1e-9),
            "data_wait_share": fetch_total / max(loop_seconds, 1e-9)}


def save_progress(parts: Parts, out_dir: Path, step: int, elapsed: float,
                  history: list) -> None:
    if is_main():
        modules = {"model": parts.core, "ema": parts.ema, "normalizer": parts.normalizer}
        counters = {"step": step, "elapsed": elapsed, "history": history,
                    "generator": parts.generator.get_state().tolist()}
        save_checkpoint(out_dir / CHECKPOINT, modules, parts.optimizer, counters)


def resume(parts: Parts, config: TrainConfig, out_dir: Path) -> dict:
    """Counters of the checkpoint in ``out_dir`` after loading it into ``parts``."""
    path = out_dir / CHECKPOINT
    if not path.is_file():
        raise FileNotFoundError(f"--resume: no checkpoint at {path}")
    modules = {"model": parts.core, "ema": parts.ema, "normalizer": parts.normalizer}
    counters = load_checkpoint(path, modules, parts.optimizer)
    if dist.is_initialized():  # only rank 0's stream was saved: every rank reseeds alike
        parts.generator.manual_seed(config.seed * 1000 + dist.get_rank() + 7919 * counters["step"])
    else:  # a resumed single-process run continues exactly as if never stopped
        parts.generator.set_state(torch.tensor(counters["generator"], dtype=torch.uint8))
    return counters


def held_out_frames(parts: Parts, count: int) -> list[dict[str, np.ndarray]]:
    """Batch-1 raw inputs for the ONNX parity check, from validation episodes when there are."""
    source = parts.val_set or parts.train_set
    picks = np.linspace(0, len(source) - 1, min(count, len(source))).round().astype(int)
    frames = []
    for i in picks:
        sample = source.batch(torch.tensor([int(i)]))
        frames.append({k: v.numpy() for k, v in sample.items()
                       if k.startswith(features.IMAGE_PREFIX) or k == features.STATE})
    return frames


def export(parts: Parts, config: TrainConfig, profile: RobotProfile, summary: dict,
           out_dir: Path) -> ExportResult:
    training = {**summary, "config": asdict(config)}
    card = PolicyCard.for_profile(profile, config.chunk, training=training)
    wrapper = ExportedPolicy(copy.deepcopy(parts.ema).cpu(), copy.deepcopy(parts.normalizer).cpu())
    (out_dir / "training_config.json").write_text(json.dumps(asdict(config), indent=2))
    return export_policy(wrapper, card, out_dir / MODEL_FILE,
                         held_out_frames(parts, config.parity_frames), asdict(config))


def train_policy(config: TrainConfig) -> TrainResult:
    """Converts the bags (cached), trains, and (on rank 0) exports policy.onnx and its card."""
    rank, device = setup_distributed()
    profile = load_profile(config.profile)
    out_dir = Path(config.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    conversion, train_set, val_set = load_data(config, profile)
    parts = build_parts(config, profile, train_set, val_set, rank, device)
    counters = resume(parts, config, out_dir) if config.resume else {}
    loop = run_loop(parts, config, out_dir, counters.get("step", 0), counters)
    summary = {"episodes": len(conversion.episodes), "train_episodes": train_set.n_episodes,
               "frames": len(train_set) + (len(val_set) if val_set else 0),
               "steps": loop["step"],
               "val_l1": loop["history"][-1]["val_l1"] if loop["history"] else None,
               "parameters": count_parameters(parts.core),
               "skipped_episodes": conversion.skipped}
    return finish(parts, config, profile, out_dir, summary, loop)


def finish(parts: Parts, config: TrainConfig, profile: RobotProfile, out_dir: Path,
           summary: dict, loop: dict) -> TrainResult:
    from lam_ros.policy.training_log import plot_curve

    exported, curve = None, None
    if is_main():
        exported = export(parts, config, profile, summary, out_dir)
        curve = plot_curve(loop["history"], out_dir / "training_curve.png")
    if dist.is_initialized():
        dist.barrier()
    return TrainResult(
        out_dir=out_dir, model_path=exported and exported.model_path,
        card_path=exported and exported.card_path, curve_path=curve,
        checkpoint_path=out_dir / CHECKPOINT, steps=loop["step"],
        train_seconds=loop["elapsed"], samples_per_s=loop["samples_per_s"],
        data_wait_share=loop["data_wait_share"],
        val_l1=float("nan") if summary["val_l1"] is None else summary["val_l1"],
        train_l1=loop["train_l1"],
        onnx_max_abs_diff=exported.max_abs_diff if exported else float("nan"),
        episodes=summary["episodes"], frames=summary["frames"], history=loop["history"])
