"""What a training run leaves in its folder: the resumable checkpoint (safetensors) and, at the
end, the exported policy with its card."""

from __future__ import annotations

import copy
import json
from dataclasses import asdict
from pathlib import Path

import torch
import torch.distributed as dist

from lam_ros.core.profile import RobotProfile
from lam_ros.policy.card import PolicyCard
from lam_ros.policy.checkpoint import load_checkpoint, load_weights, save_checkpoint
from lam_ros.policy.distributed import is_main
from lam_ros.policy.export import ExportResult, export_policy
from lam_ros.policy.families import family
from lam_ros.policy.model import ExportedPolicy, kept_weights
from lam_ros.policy.train_config import TrainConfig
from lam_ros.policy.training_data import held_out_frames
from lam_ros.policy.training_state import Parts

CHECKPOINT = "checkpoint.safetensors"
MODEL_FILE = "policy.onnx"


def _modules(parts: Parts) -> dict[str, torch.nn.Module]:
    modules = {"model": parts.core, "ema": parts.ema, "normalizer": parts.normalizer}
    return modules | ({"best": parts.best} if parts.best is not None else {})


def save_progress(parts: Parts, out_dir: Path, step: int, elapsed: float,
                  history: list) -> None:
    if is_main():
        counters = {"step": step, "elapsed": elapsed, "history": history,
                    "generator": parts.generator.get_state().tolist(),
                    "best_val": parts.best_val, "best_step": parts.best_step,
                    "policy": parts.core.kind, "policy_config": asdict(parts.core.config),
                    "state_ticks": parts.core.shapes.history}
        save_checkpoint(out_dir / CHECKPOINT, _modules(parts), parts.optimizer, counters)


def _same_policy_checkpoint(parts: Parts, out_dir: Path, option: str) -> Path:
    """``out_dir``'s checkpoint; FileNotFoundError without one, ValueError when it holds another
    policy family or config than this run builds."""
    path = Path(out_dir) / CHECKPOINT
    if not path.is_file():
        raise FileNotFoundError(f"{option}: no checkpoint at {path}")
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        saved = json.loads(f.metadata()["counters"])
    # Checkpoints from before policy families hold the conv policy with its defaults.
    saved_kind = saved.get("policy", "conv")
    saved_config = family(saved_kind).make_config(saved.get("policy_config", {}))
    if (saved_kind, saved_config) != (parts.core.kind, parts.core.config):
        raise ValueError(f"{option}: {path} holds a {saved_kind!r} policy with {saved_config}; "
                         f"this run builds {parts.core.kind!r} with {parts.core.config}")
    if saved.get("state_ticks", 1) != parts.core.shapes.history:
        raise ValueError(f"{option}: {path} holds a policy seeing {saved.get('state_ticks', 1)} "
                         f"ticks of joint positions; this run's --history is "
                         f"{parts.core.shapes.history}")
    return path


def init_from(parts: Parts, model_dir: str) -> None:
    """Starts from the weights a finished run exported (its best, else its EMA weights) and
    its normalization (the statistics those weights learned under), for the model and its EMA
    alike; the optimizer starts anew."""
    from safetensors.torch import load_file

    tensors = load_file(str(_same_policy_checkpoint(parts, Path(model_dir), "--init-from")))
    kept = kept_weights(tensors)
    load_weights({**{f"model.{k}": v for k, v in kept.items()},
                  **{f"ema.{k}": v for k, v in kept.items()},
                  **{k: v for k, v in tensors.items() if k.startswith("normalizer.")}},
                 {"model": parts.core, "ema": parts.ema, "normalizer": parts.normalizer})


def resume(parts: Parts, config: TrainConfig, out_dir: Path) -> dict:
    """Counters of the checkpoint in ``out_dir`` after loading it into ``parts``; ValueError when
    it holds another policy family or config than this run builds."""
    path = _same_policy_checkpoint(parts, out_dir, "--resume")
    counters = load_checkpoint(path, _modules(parts), parts.optimizer)
    if "best_step" in counters and counters["best_val"] < float("inf"):
        from safetensors.torch import load_file

        parts.best = copy.deepcopy(parts.ema)
        load_weights(load_file(str(path)), {"best": parts.best})
        parts.best_val, parts.best_step = counters["best_val"], counters["best_step"]
    if dist.is_initialized():  # only rank 0's stream was saved: every rank reseeds alike
        parts.generator.manual_seed(config.seed * 1000 + dist.get_rank() + 7919 * counters["step"])
    else:  # a resumed single-process run continues exactly as if never stopped
        parts.generator.set_state(torch.tensor(counters["generator"], dtype=torch.uint8))
    return counters


def export(parts: Parts, config: TrainConfig, profile: RobotProfile, summary: dict,
           out_dir: Path) -> ExportResult:
    """policy.onnx and its card from the kept EMA weights (``Parts.kept``); parity on held-out
    (validation) frames."""
    card = PolicyCard.for_profile(profile, config.chunk, history=config.history,
                                  training={**summary, "config": asdict(config)},
                                  policy=parts.ema.kind, policy_config=asdict(parts.ema.config),
                                  task=summary["task"])
    wrapper = ExportedPolicy(copy.deepcopy(parts.kept()).cpu(),
                             copy.deepcopy(parts.normalizer).cpu())
    (out_dir / "training_config.json").write_text(json.dumps(asdict(config), indent=2))
    frames = held_out_frames(parts.val_set or parts.train_set, config.parity_frames)
    return export_policy(wrapper, card, out_dir / MODEL_FILE, frames, asdict(config))
