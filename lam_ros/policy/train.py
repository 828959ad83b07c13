"""Trains a policy from episode bags and exports it: ``train_policy(config)``.

Seeded and reproducible; AdamW with an LR that warms up, holds, then anneals over the budget's
end (lr_factor); an EMA of the weights is what gets validated and exported. Which policy is
trained is ``config.policy`` (policy/families); this loop only calls the family's loss and
prediction. Runs under torchrun (DistributedDataParallel, see distributed.py): every rank draws
its own batches, gradients are averaged, so all ranks keep identical weights. The whole
converted dataset stays in memory as tensors (training_data.py), so fetching a batch is one
gather.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from lam_ros.core.profile import RobotProfile, load_profile
from lam_ros.policy.distributed import agreed_seconds, is_main, setup_distributed, world_size
from lam_ros.policy.families.base import masked_l1
from lam_ros.policy.model import count_parameters
from lam_ros.policy.train_config import TrainConfig, TrainingError
from lam_ros.policy.training_data import load_data, normalized_batch, recorded_task
from lam_ros.policy.training_outputs import (
    CHECKPOINT,
    export,
    init_from,
    resume,
    save_progress,
)
from lam_ros.policy.training_state import Parts, build_parts

__all__ = ["CHECKPOINT", "TrainConfig", "TrainResult", "TrainingError", "build_parts",
           "is_main", "load_data", "run_loop", "setup_distributed", "train_policy"]


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
    val_l1: float  # the exported weights', robot units (rad, m); nan without validation
    kept_step: int  # the step whose EMA weights were exported (TrainConfig.keep)
    # Robot units, of the chunk the family's training loss reconstructs (see TrainingLoss)
    train_l1: float
    onnx_max_abs_diff: float
    episodes: int
    frames: int
    idle_frames_cut: int  # still ticks left out of the demonstrations (data/idle.py)
    history: list[dict] = field(default_factory=list)


def lr_factor(progress: float, step: int, warmup_steps: int, decay_fraction: float) -> float:
    """Warm-up, then the peak LR, then a cosine to zero over the last ``decay_fraction``."""
    warm = min(1.0, (step + 1) / warmup_steps) if warmup_steps else 1.0
    decay = min(1.0, max(0.0, progress - (1.0 - decay_fraction)) / decay_fraction)
    return warm * 0.5 * (1.0 + math.cos(math.pi * decay))


@torch.no_grad()
def update_ema(ema: torch.nn.Module, model: torch.nn.Module, decay: float, step: int) -> None:
    decay = min(decay, (1.0 + step) / (10.0 + step))  # early on, follow the fast-moving weights
    torch._foreach_lerp_(list(ema.parameters()), list(model.parameters()), 1.0 - decay)


@torch.no_grad()
def validate(parts: Parts, batch_size: int) -> float | None:
    """EMA model's L1 (its deterministic prediction) in robot units over every validation
    sample; None without validation episodes."""
    if parts.val_set is None:
        return None
    parts.ema.eval()
    total, weight = 0.0, 0.0
    for start in range(0, len(parts.val_set), batch_size):
        indices = torch.arange(start, min(start + batch_size, len(parts.val_set)))
        batch = normalized_batch(parts.val_set.batch(indices), parts.normalizer,
                                 parts.ema.shapes.camera_names, parts.device)
        n = float(batch.mask.sum()) * batch.target.shape[-1]
        pred = parts.ema.predict(batch.images, batch.state)
        total += float(masked_l1(pred, batch.target, batch.mask,
                                 parts.normalizer.action_std)) * n
        weight += n
    return total / max(weight, 1.0)


class Clock:
    """Training time and the stop decision, agreed across ranks (rank 0's clock rules)."""

    def __init__(self, config: TrainConfig, elapsed_before: float, device: torch.device):
        self.config = config
        self.device = device
        self.started = time.perf_counter() - elapsed_before

    def elapsed(self) -> float:
        return agreed_seconds(time.perf_counter() - self.started, self.device)

    def progress(self, step: int, elapsed: float) -> float:
        by_steps = step / self.config.steps
        by_time = elapsed / (60.0 * self.config.minutes) if self.config.minutes else 0.0
        return max(by_steps, by_time)


def train_step(parts: Parts, config: TrainConfig, step: int,
               lr_scale: float) -> tuple[dict[str, float], float]:
    """One optimizer step; returns the step's figures for the log (``l1_robot_units``, ``loss``
    and the family's loss terms) and the seconds spent fetching data."""
    fetch_began = time.perf_counter()
    indices = parts.train_set.draw(config.batch_size, parts.generator)
    raw = parts.train_set.batch(indices)
    fetch_seconds = time.perf_counter() - fetch_began
    batch = normalized_batch(raw, parts.normalizer, parts.core.shapes.camera_names, parts.device,
                             parts.generator, config.shift_pad, config.state_noise)
    for group in parts.optimizer.param_groups:
        group["lr"] = config.lr * lr_scale
    loss = parts.policy(batch, parts.generator)
    parts.optimizer.zero_grad(set_to_none=True)
    loss.total.backward()
    parts.optimizer.step()
    update_ema(parts.ema, parts.core, config.ema_decay, step)
    with torch.no_grad():
        robot_l1 = masked_l1(loss.chunk, batch.target, batch.mask, parts.normalizer.action_std)
    figures = {"l1_robot_units": float(robot_l1), "loss": float(loss.total.detach()),
               **{name: float(value) for name, value in loss.terms.items()}}
    return figures, fetch_seconds


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
        lr_scale = lr_factor(clock.progress(step, elapsed), step, config.warmup_steps,
                             config.lr_decay_fraction)
        figures, fetch_seconds = train_step(parts, config, step, lr_scale)
        recent.append(figures["l1_robot_units"])
        fetch_total += fetch_seconds
        step += 1
        elapsed = clock.elapsed()
        rate = (step - start_step) * config.batch_size / (time.perf_counter() - loop_began)
        bar.set_postfix(l1=f"{recent[-1]:.4f}", samples_s=f"{rate:.0f}", refresh=False)
        bar.update(1)  # redraws at most once a second, with the postfix just set
        for name, value in figures.items():
            log.scalar(f"train/{name}", value, step)
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
            if config.keep == "best":
                parts.remember_if_best(step, val_l1)
        if step % config.checkpoint_every == 0 or finished:
            save_progress(parts, out_dir, step, elapsed, log.history)
    bar.close()
    log.close()
    loop_seconds = time.perf_counter() - loop_began
    steps_run = (step - start_step) * world_size()
    return {"step": step, "elapsed": elapsed, "history": log.history, "train_l1": train_l1,
            "samples_per_s": steps_run * config.batch_size / max(loop_seconds, 1e-9),
            "data_wait_share": fetch_total / max(loop_seconds, 1e-9)}


def train_policy(config: TrainConfig) -> TrainResult:
    """Converts the bags (cached), trains, and (on rank 0) exports policy.onnx and its card."""
    rank, device = setup_distributed()
    profile = load_profile(config.profile)
    out_dir = Path(config.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    conversion, train_set, val_set = load_data(config, profile)
    task = recorded_task(conversion)  # before training: mixed tasks are refused at once
    parts = build_parts(config, profile, train_set, val_set, rank, device)
    if config.init_from and not config.resume:
        init_from(parts, config.init_from)
    counters = resume(parts, config, out_dir) if config.resume else {}
    loop = run_loop(parts, config, out_dir, counters.get("step", 0), counters)
    summary = {"task": task,
               "episodes": len(conversion.episodes), "train_episodes": train_set.n_episodes,
               "frames": len(train_set) + (len(val_set) if val_set else 0),
               "idle_frames_cut": sum(e.report.get("idle_ticks_cut", 0)
                                      for e in conversion.episodes),
               "steps": loop["step"],
               "val_l1": kept_val_l1(parts, loop["history"]),
               "kept_step": parts.best_step if parts.best is not None else loop["step"],
               "parameters": count_parameters(parts.core),
               "skipped_episodes": conversion.skipped}
    return finish(parts, config, profile, out_dir, summary, loop)


def kept_val_l1(parts: Parts, history: list[dict]) -> float | None:
    """Validation L1 of the weights that are exported."""
    if parts.best is not None:
        return parts.best_val
    return history[-1]["val_l1"] if history else None


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
        kept_step=summary["kept_step"],
        train_l1=loop["train_l1"],
        onnx_max_abs_diff=exported.max_abs_diff if exported else float("nan"),
        episodes=summary["episodes"], frames=summary["frames"],
        idle_frames_cut=summary["idle_frames_cut"], history=loop["history"])
