"""`lam-ros train`: convert episode bags (cached), train a policy (`--policy`), export ONNX.

Multi-process: `torchrun --nproc_per_node=N -m lam_ros.cli train ...` (gloo on CPU, nccl on GPU).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import sys

from lam_ros.data.corrections import CorrectionWeights
from lam_ros.policy.export import ExportError
from lam_ros.policy.families import FAMILIES
from lam_ros.policy.train import TrainConfig, TrainResult, is_main, train_policy
from lam_ros.policy.train_config import KEEP_CHOICES

DEFAULTS = {f.name: f.default for f in dataclasses.fields(TrainConfig)
            if f.default is not dataclasses.MISSING}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, nargs="+", metavar="DIR",
                        help="folder(s) of episode bags (searched down): demonstrations, and "
                             "correction episodes (the policy drove, a person took over)")
    parser.add_argument("--out", required=True, help="output folder, e.g. models/<name>")
    parser.add_argument("--profile", required=True,
                        help="robot profile (name in config/robots or YAML path) the episodes "
                             "were recorded for")
    parser.add_argument("--policy", choices=list(FAMILIES), default=DEFAULTS["policy"],
                        help="policy family: " + "; ".join(
                            f"{name}: {cls.summary}" for name, cls in FAMILIES.items()))
    parser.add_argument("--policy-option", action="append", default=[], metavar="KEY=VALUE",
                        type=policy_option,
                        help="override one of the family's hyperparameters (repeatable), "
                             "e.g. kl_weight=1 or channels=[16,32,64]; VALUE is read as JSON, "
                             "else as a string")
    parser.add_argument("--steps", type=int, default=DEFAULTS["steps"])
    parser.add_argument("--minutes", type=float, default=DEFAULTS["minutes"],
                        help="wall-clock training budget (0 = only --steps limits)")
    parser.add_argument("--batch-size", type=int, default=DEFAULTS["batch_size"])
    parser.add_argument("--lr", type=float, default=DEFAULTS["lr"])
    parser.add_argument("--chunk", type=int, default=DEFAULTS["chunk"])
    parser.add_argument("--history", type=int, default=DEFAULTS["history"], metavar="TICKS",
                        help="control ticks of joint positions the policy sees: the present "
                             "and the ticks before it (1: the present only)")
    parser.add_argument("--shift-pad", type=int, default=DEFAULTS["shift_pad"], metavar="PX",
                        help="random-shift augmentation of training images, pixels (0: none)")
    parser.add_argument("--state-noise", type=float, default=DEFAULTS["state_noise"],
                        metavar="STD", help="Gaussian noise on the normalized joint-state "
                                            "input of training batches (0: none)")
    parser.add_argument("--seed", type=int, default=DEFAULTS["seed"])
    parser.add_argument("--val-fraction", type=float, default=DEFAULTS["val_fraction"])
    parser.add_argument("--cache-dir", default=DEFAULTS["cache_dir"],
                        help="converted-episode cache (default ~/.cache/lam_ros/episodes)")
    parser.add_argument("--resume", action="store_true", help="continue from <out>/checkpoint")
    parser.add_argument("--init-from", default="", metavar="MODEL_DIR",
                        help="start from a trained policy's folder (its checkpoint; same policy "
                             "family and options), e.g. to learn from corrections")
    add_correction_weight_arguments(parser)
    parser.add_argument("--keep", choices=KEEP_CHOICES, default=DEFAULTS["keep"],
                        help="export the EMA weights of the lowest validation L1 (best) or the "
                             "last ones")
    parser.add_argument("--include-failed", action="store_true",
                        help="also train on episodes recorded as failed")
    parser.add_argument("--keep-idle", action="store_true",
                        help="train on idle ticks too (by default the still time before the "
                             "first motion and after the last is cut, and pauses are shortened "
                             "to --max-pause)")
    parser.add_argument("--max-pause", type=float, default=DEFAULTS["max_pause_s"],
                        metavar="S", help="longest pause kept in a demonstration, seconds")
    parser.add_argument("--split", default=DEFAULTS["split"], metavar="SPEC",
                        help="split long bags into episodes: gap:TOPIC:SECONDS (TOPIC silent "
                             "longer than SECONDS), topic:TOPIC (std_msgs/Bool true while an "
                             "episode runs, or std_msgs/String: a new value starts one, '' "
                             "between), times:FILE (YAML list of [start, end] s from the bag's "
                             "start, or bag folder name -> list)")
    parser.add_argument("--allow-profile-mismatch", action="store_true",
                        help="train on episodes recorded with another profile hash (knowingly)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def add_correction_weight_arguments(parser: argparse.ArgumentParser) -> None:
    weights = CorrectionWeights()
    parser.add_argument("--human-weight", type=float, default=weights.human,
                        help="how much a person's ticks in a correction episode count")
    parser.add_argument("--policy-weight", type=float, default=weights.policy,
                        help="how much the policy's own ticks in a correction episode count")
    parser.add_argument("--before-takeover", type=float, default=weights.before_takeover_s,
                        metavar="S", help="seconds of policy ticks before each take-over that "
                                          "count zero (the policy was going wrong)")


def correction_weights(args: argparse.Namespace) -> CorrectionWeights:
    return CorrectionWeights(args.human_weight, args.policy_weight, args.before_takeover)


def policy_option(text: str) -> tuple[str, object]:
    key, separator, value = text.partition("=")
    if not separator or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(
        data_dir=args.data[0], more_data=tuple(args.data[1:]), out_dir=args.out,
        profile=args.profile, policy=args.policy,
        policy_options=dict(args.policy_option), steps=args.steps,
        minutes=args.minutes, batch_size=args.batch_size, lr=args.lr, chunk=args.chunk,
        history=args.history, shift_pad=args.shift_pad, state_noise=args.state_noise,
        seed=args.seed, val_fraction=args.val_fraction, cache_dir=args.cache_dir,
        resume=args.resume, include_failed=args.include_failed, keep_idle=args.keep_idle,
        max_pause_s=args.max_pause, init_from=args.init_from, keep=args.keep,
        correction_weights=correction_weights(args),
        allow_profile_mismatch=args.allow_profile_mismatch, split=args.split,
        progress=not args.no_progress)


def summary_lines(result: TrainResult) -> list[str]:
    val = "n/a (no validation episodes)" if math.isnan(result.val_l1) else f"{result.val_l1:.4f}"
    return [
        f"episodes: {result.episodes}  frames: {result.frames} (idle frames cut: "
        f"{result.idle_frames_cut})  steps: {result.steps}",
        f"train time: {result.train_seconds:.1f} s  samples/s: {result.samples_per_s:.0f}  "
        f"data wait: {100 * result.data_wait_share:.1f}% of step time",
        f"val L1 (EMA, robot units: rad / m): {val} (weights of step {result.kept_step})",
        f"ONNX parity (max |onnxruntime - torch|): {result.onnx_max_abs_diff:.2e}",
        f"model: {result.model_path}",
        f"card: {result.card_path}",
        f"training curve: {result.curve_path}",
        f"checkpoint: {result.checkpoint_path}",
    ]


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        result = train_policy(config_from_args(args))
    except (ValueError, FileNotFoundError, ExportError) as exc:  # bad data, config or export
        print(f"lam-ros train: error: {exc}", file=sys.stderr)
        return 2
    if is_main():
        print("\n".join(summary_lines(result)))
    return 0
