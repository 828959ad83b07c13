"""`lam-ros sim-check`: the scripted expert's success rate in the simulator, no ROS involved."""

from __future__ import annotations

import argparse
import time

from tqdm import tqdm

from lam_ros.core.profile import load_profile
from lam_ros.sim.config import SIM_PROFILE
from lam_ros.sim.episode import run_expert_episode
from lam_ros.sim.expert import ScriptedExpert
from lam_ros.sim.seeds import demo_seeds, eval_seeds
from lam_ros.sim.tasks import DEFAULT_TASK, TASKS
from lam_ros.sim.world import TabletopWorld


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--episodes", type=int, default=100, help="number of episodes (seeds)")
    parser.add_argument("--seed", type=int, default=0, help="offset into the seed range")
    parser.add_argument("--profile", default=SIM_PROFILE, help="robot profile name or YAML path")
    parser.add_argument("--task", default=DEFAULT_TASK, choices=sorted(TASKS),
                        help="simulated task")
    parser.add_argument("--no-cameras", action="store_true", dest="no_cameras",
                        help="skip rendering: the same physics and success, several times "
                             "faster, but the rates are no longer those of a recording")
    parser.add_argument("--eval-seeds", action="store_true",
                        help="use the held-out evaluation seeds instead of the demo seeds")


def run(args: argparse.Namespace) -> int:
    profile = load_profile(args.profile)
    seeds = (eval_seeds if args.eval_seeds else demo_seeds)(args.episodes, args.seed)
    world, expert = TabletopWorld(profile, args.task), ScriptedExpert(profile, args.task)
    cameras = () if args.no_cameras else tuple(c.name for c in profile.cameras)
    results, start = [], time.perf_counter()
    try:
        for seed in (bar := tqdm(seeds, unit="episode")):
            results.append(run_expert_episode(world, expert, seed, cameras))
            bar.set_postfix(success=sum(r.success for r in results))
    finally:
        world.close()
    elapsed = time.perf_counter() - start
    failed = [r.seed for r in results if not r.success]
    steps, frames = sum(r.steps for r in results), sum(r.frames for r in results)
    print(f"task={args.task} episodes={len(results)} steps={steps} "
          f"steps_per_s={steps / elapsed:.1f} "
          f"frames_per_s={frames / elapsed:.1f} mean_episode_s="
          f"{steps * profile.control_period / max(len(results), 1):.1f}")
    if failed:
        print(f"failed seeds: {failed}")
    print(f"success_rate={(len(results) - len(failed)) / max(len(results), 1):.2f}")
    return 0
