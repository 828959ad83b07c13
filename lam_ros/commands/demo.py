"""`lam-ros demo`: the whole loop on one machine, as a user would run it.

Records demonstrations through the recorder node (the scripted expert's, or a simulated person's
with a joystick through teleop_node), trains a policy (the default family unless told), exports
ONNX, evaluates it over ROS on held-out seeds, and prints a results table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

from lam_ros.commands.evaluate import EvalConfig, evaluate
from lam_ros.commands.record_sim import EXPERT, JOYSTICK, RecordSimConfig, record
from lam_ros.core import features
from lam_ros.core.profile import load_profile
from lam_ros.data.bag_info import read_custom_data
from lam_ros.data.episode_bag import find_episode_dirs
from lam_ros.launcher import NodeExited
from lam_ros.policy.card import card_path
from lam_ros.policy.families import DEFAULT_FAMILY, FAMILIES
from lam_ros.policy.train import TrainConfig, train_policy
from lam_ros.ros.sim_session import SessionError
from lam_ros.sim.config import SIM_PROFILE
from lam_ros.sim.operator import DEFAULT_STYLE, STYLES
from lam_ros.sim.tasks import DEFAULT_TASK, TASKS, get_task

# A joystick person's demonstrations take 2.4 times the expert's (pick_place medians 21.0 and
# 8.7 s), and the task limits are sized for the expert: a policy learned from a person is
# evaluated with this many task limits.
JOYSTICK_PACE = 2.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="runs/demo", help="folder for data, model and report")
    parser.add_argument("--robot", default=SIM_PROFILE,
                        help="simulated robot profile: a name under config/robots or a YAML "
                             "path")
    parser.add_argument("--task", default=DEFAULT_TASK, choices=sorted(TASKS),
                        help="task to record, train on and evaluate")
    parser.add_argument("--episodes", type=int, default=50, help="demonstrations to record")
    parser.add_argument("--eval-episodes", type=int, default=100, help="held-out seeds")
    parser.add_argument("--train-minutes", type=float, default=15.0,
                        help="training wall-clock budget")
    parser.add_argument("--train-steps", type=int, default=100_000,
                        help="training step cap (the time budget usually ends training first)")
    parser.add_argument("--policy", default=DEFAULT_FAMILY, choices=list(FAMILIES),
                        help="policy family to train")
    parser.add_argument("--operator", choices=(EXPERT, JOYSTICK), default=EXPERT,
                        help="who demonstrates: the scripted expert, or a simulated person with "
                             "a gamepad through teleop_node")
    parser.add_argument("--style", choices=sorted(STYLES), default=DEFAULT_STYLE,
                        help="the joystick person's style")
    parser.add_argument("--time-limit", type=float, default=0.0, dest="time_limit_s",
                        help="evaluation sim seconds per episode (default: the task's limit, "
                             "which is sized for the scripted expert; twice it for a joystick "
                             "person, whose demonstrations take 2.4 times as long)")
    parser.add_argument("--ship", default="", help="also copy the policy to this models/ folder")


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    try:
        return _demo(args)
    except (NodeExited, SessionError) as exc:  # a node refused to start or died: say why
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _demo(args: argparse.Namespace) -> int:
    out = Path(args.out)
    timings = {}
    start = time.monotonic()
    data_root = out / ("data" if args.operator == EXPERT else f"data_joystick_{args.style}")
    data = ensure_demonstrations(data_root, args.task, args.episodes, args.robot,
                                 args.operator, args.style)
    timings["record"] = time.monotonic() - start

    result = train_policy(TrainConfig(data_dir=str(data), out_dir=str(out / "model"),
                                      profile=args.robot, policy=args.policy,
                                      cache_dir=str(out / "cache"),
                                      minutes=args.train_minutes, steps=args.train_steps))
    timings["train"] = result.train_seconds

    t0 = time.monotonic()
    task_limit = get_task(args.task).time_limit_s
    args.time_limit_s = args.time_limit_s or (
        JOYSTICK_PACE * task_limit if args.operator == JOYSTICK else task_limit)
    summary, report = evaluate(EvalConfig(model=str(result.model_path),
                                          episodes=args.eval_episodes, profile=args.robot,
                                          task=args.task, report_dir=str(out / "eval"),
                                          time_limit_s=args.time_limit_s))
    timings["evaluate"] = time.monotonic() - t0
    timings["total"] = time.monotonic() - start
    if args.ship:
        _ship(result.model_path, Path(args.ship))

    table = results_table(summary, result, timings, args, within(report, task_limit))
    (out / "RESULTS.md").write_text(table + f"\nReport: {report}/summary.md\n")
    print("\n" + table)
    print(f"report: {report}/summary.md (episodes.json, success.png, rollouts.mp4)")
    print(summary.last_line())
    return 0


def ensure_demonstrations(data_root: Path, task: str, episodes: int, robot: str,
                          operator: str = EXPERT, style: str = DEFAULT_STYLE) -> Path:
    """``<data_root>/<task>`` holding at least ``episodes`` successful episodes of ``robot``:
    reused when it already does, else recorded afresh through the ROS graph. A joystick person
    fails or discards an episode now and then, so it is asked again (on the next seeds) until
    there are enough, at most three rounds. Returns the folder.
    """
    folder = Path(data_root) / task
    wanted = load_profile(robot).fingerprint()
    existing = find_episode_dirs(folder) if folder.is_dir() else []
    usable = []
    for episode in existing:
        data = read_custom_data(episode)
        if (data.get(features.EPISODE_SUCCESS) == "true"
                and data.get(features.EPISODE_PROFILE_HASH, wanted) == wanted):
            usable.append(episode)
    if len(usable) >= episodes:
        print(f"reusing {len(usable)} recorded episodes in {folder} "
              f"(delete the folder to record again)")
        return folder
    if folder.exists():  # a partial earlier run: start clean, seeds stay the same
        print(f"recording again: {folder} holds {len(usable)} usable episodes of {episodes} "
              f"(successful, recorded for {robot})")
        shutil.rmtree(folder)
    succeeded, attempts = 0, 0
    for _ in range(3 if operator == JOYSTICK else 1):
        outcomes = record(RecordSimConfig(data=str(data_root), episodes=episodes - succeeded,
                                          task=task, profile=robot, seed_offset=attempts,
                                          operator=operator, style=style,
                                          time_limit_s=60.0 if operator == JOYSTICK else 30.0))
        attempts += len(outcomes)
        succeeded += sum(ok for _, ok, _ in outcomes)
        if succeeded >= episodes:
            break
    if succeeded < episodes:
        print(f"warning: {succeeded} of {attempts} demonstrations of {task} succeeded; "
              f"training uses the successful ones (see {Path(data_root) / 'logs'})",
              file=sys.stderr)
    else:
        print(f"{succeeded} successful demonstrations in {attempts} attempts ({operator})")
    return folder


def _ship(model: Path, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy2(model, folder / model.name)
    shutil.copy2(card_path(model), card_path(folder / model.name))
    print(f"shipped {model.name} and its card to {folder}")


def within(report: Path, limit_s: float) -> tuple[float, int, int]:
    """(limit, successes within it, episodes) from an evaluation report's episodes."""
    episodes = json.loads((report / "episodes.json").read_text())["episodes"]
    fast = sum(e["success"] and e["time_to_success_s"] <= limit_s for e in episodes)
    return limit_s, fast, len(episodes)


def results_table(summary, result, timings: dict[str, float], args,
                  task_limit: tuple[float, int, int]) -> str:
    status = summary.extra
    limit, fast, episodes = task_limit
    graphs = int(status.get("workers", "1"))
    # Side by side, each graph's latencies include the others' load: the worst graph's shown.
    under_load = f", worst of {graphs} graphs side by side" if graphs > 1 else ""
    rows = [
        ("robot", args.robot),
        ("task", args.task),
        (f"closed-loop success (held-out seeds, {args.time_limit_s:g} s each)",
         f"{summary.successes}/{summary.episodes} = {summary.success_rate:.0%} "
         f"(95% CI {summary.ci95[0]:.0%}-{summary.ci95[1]:.0%})"),
        *([(f"success within the task's {limit:g} s", f"{fast}/{episodes}")]
          if args.time_limit_s != limit else []),
        ("stalled rollouts", status["stalled"]),
        ("demonstrations", f"{result.episodes} episodes by the {args.operator}"
                           + (f" ({args.style})" if args.operator == JOYSTICK else "")
                           + f", {result.frames} frames"),
        ("policy", args.policy),
        ("training", f"{result.steps} steps in {timings['train'] / 60:.1f} min, "
                     f"{result.samples_per_s:.0f} samples/s, data wait "
                     f"{result.data_wait_share:.1%}"),
        ("validation L1 (held-out episodes)", f"{result.val_l1:.4f} rad"),
        ("ONNX vs torch max abs diff", f"{result.onnx_max_abs_diff:.2e}"),
        (f"inference (onnxruntime){under_load}",
         f"p50 {status.get('inference_p50_ms', '?')} ms, "
         f"p99 {status.get('inference_p99_ms', '?')} ms on {status.get('provider', '?')}"),
        (f"observation to command{under_load}",
         f"p50 {status.get('obs_to_command_p50_ms', '?')} ms, "
         f"p99 {status.get('obs_to_command_p99_ms', '?')} ms"),
        ("wall time", ", ".join(f"{k} {v / 60:.1f} min" for k, v in timings.items())),
    ]
    width = max(len(k) for k, _ in rows)
    lines = ["| result | value |", "| --- | --- |"]
    lines += [f"| {k.ljust(width)} | {v} |" for k, v in rows]
    return "\n".join(lines)
