"""Training throughput and the cost of data: `lam-ros bench train [--data DIR] [--steps N]`.

Prints, from one run on the same files:
  * conversion MB/s (decode + sync + cache write) vs plain iteration over the same MCAP files
    with the rosbags reader and no deserialization (the floor any converter pays);
  * training samples/s and the share of each step spent waiting for a batch (bar: < 10%).
Without --data it writes synthetic episodes (real bags, the profile's camera size) first.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
from rosbags.rosbag2 import Reader

from lam_ros.core.profile import load_profile
from lam_ros.data.cache import convert_dataset
from lam_ros.data.episode_bag import find_episode_dirs, storage_files
from lam_ros.policy.distributed import setup_distributed
from lam_ros.policy.model import count_parameters
from lam_ros.policy.train import run_loop
from lam_ros.policy.train_config import TrainConfig
from lam_ros.policy.training_data import load_data
from lam_ros.policy.training_state import build_parts

REPO = Path(__file__).resolve().parents[1]


def synthesize(root: Path, profile, episodes: int, ticks: int) -> Path:
    sys.path.insert(0, str(REPO / "test" / "unit"))
    from episode_bag_factory import write_dataset

    write_dataset(root / "data", profile, episodes=episodes, ticks=ticks)
    return root / "data"


def plain_iteration_mb_s(data_dir: Path) -> tuple[float, int]:
    """MB/s reading every message's bytes with rosbags, no deserialization."""
    began, total_bytes, messages = time.perf_counter(), 0, 0
    for episode_dir in find_episode_dirs(data_dir):
        total_bytes += sum(p.stat().st_size for p in storage_files(episode_dir))
        with Reader(episode_dir) as reader:
            for _ in reader.messages():
                messages += 1
    return total_bytes / 1e6 / (time.perf_counter() - began), messages


def conversion_mb_s(data_dir: Path, profile, cache_dir: Path) -> tuple[float, int]:
    result = convert_dataset(data_dir, profile, cache_dir=cache_dir, progress=False)
    assert result.converted == len(result.episodes), "the bench cache must start empty"
    frames = sum(e.n_kept for e in result.episodes)
    return result.bytes_read / 1e6 / result.seconds, frames


def training_figures(config: TrainConfig, profile) -> dict:
    rank, device = setup_distributed()
    _, train_set, val_set = load_data(config, profile)
    parts = build_parts(config, profile, train_set, val_set, rank, device)
    loop = run_loop(parts, config, Path(config.out_dir), 0, {})
    loop["parameters"] = count_parameters(parts.core)
    return loop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", help="episode bags (default: synthesize)")
    parser.add_argument("--profile", default="panda_sim")
    parser.add_argument("--episodes", type=int, default=20, help="synthetic episodes")
    parser.add_argument("--ticks", type=int, default=80, help="synthetic ticks per episode")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    profile = load_profile(args.profile)
    with tempfile.TemporaryDirectory(prefix="lam_ros_bench_") as tmp:
        root = Path(tmp)
        data_dir = Path(args.data) if args.data else synthesize(root, profile, args.episodes,
                                                                 args.ticks)
        plain, messages = plain_iteration_mb_s(data_dir)
        converted, frames = conversion_mb_s(data_dir, profile, root / "cache")
        print(f"bags: {data_dir} ({messages} messages, {frames} frames after sync)")
        print(f"plain MCAP iteration (rosbags, no deserialization): {plain:8.1f} MB/s")
        print(f"conversion (decode + sync + cache):                 {converted:8.1f} MB/s "
              f"({converted / plain:.2f}x plain)")
        config = TrainConfig(data_dir=str(data_dir), out_dir=str(root / "model"),
                             profile=args.profile, steps=args.steps, batch_size=args.batch_size,
                             eval_every=10 * args.steps, checkpoint_every=10 * args.steps,
                             cache_dir=str(root / "cache"), val_fraction=0.0, progress=False)
        loop = training_figures(config, profile)
    print(f"training: {loop['parameters']} parameters, batch {args.batch_size}, "
          f"{torch.get_num_threads()} threads, {args.steps} steps")
    print(f"training samples/s: {loop['samples_per_s']:.0f}")
    print(f"share of step time waiting for data: {100 * loop['data_wait_share']:.1f}% "
          "(bar: < 10%)")


if __name__ == "__main__":
    main()
