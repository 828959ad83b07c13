"""`lam-ros export lerobot --data DIR --out DIR`: episode bags -> a LeRobotDataset (format v3.0)
for LeRobot's trainers, from the conversion and kept frames `lam-ros train` uses
(see lam_ros/data/lerobot_export.py)."""

from __future__ import annotations

import argparse
import sys

from lam_ros.core.profile import load_profile
from lam_ros.data.bag_writer import BagError
from lam_ros.data.cache import convert_dataset, recorded_profile
from lam_ros.data.episode_split import parse_split
from lam_ros.data.lerobot_export import episode_tasks, export_fps, export_lerobot
from lam_ros.data.sync import SyncSettings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="format", required=True, metavar="FORMAT")
    lerobot = sub.add_parser("lerobot", help="a LeRobotDataset v3.0 folder (parquet + MP4)",
                             description="Write the episodes, synchronized and kept as lam-ros "
                                         "train uses them, as a LeRobotDataset v3.0.")
    lerobot.add_argument("--data", required=True, help="folder of episode bags (searched down)")
    lerobot.add_argument("--out", required=True, help="dataset folder to create (new or empty)")
    lerobot.add_argument("--robot", "--profile", dest="robot", default="",
                         help="robot profile (name in config/robots or YAML path); default: the "
                              "one the bags record")
    lerobot.add_argument("--task", default="",
                         help="task text for every episode (default: its recorded task name)")
    lerobot.add_argument("--fps", type=int, default=0,
                         help="rate of the control grid the episodes are synchronized on "
                              "(default: the profile's control_hz; another rate resamples)")
    lerobot.add_argument("--cache-dir", default="",
                         help="converted-episode cache (default ~/.cache/lam_ros/episodes)")
    lerobot.add_argument("--include-failed", action="store_true",
                         help="also export episodes recorded as failed")
    lerobot.add_argument("--split", default="", metavar="SPEC",
                         help="split long bags into episodes, as for lam-ros train --split")
    lerobot.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    try:
        profile = load_profile(args.robot or recorded_profile(args.data))
        fps = export_fps(args.fps, profile.control_hz)
        conversion = convert_dataset(args.data, profile, settings=SyncSettings.for_rate(fps),
                                     cache_dir=args.cache_dir or None,
                                     include_failed=args.include_failed,
                                     split=parse_split(args.split), progress=not args.no_progress)
        tasks = episode_tasks(conversion.episodes, args.task)
        result = export_lerobot(args.out, conversion.episodes, tasks, profile, fps)
    except (ValueError, OSError, BagError) as exc:
        print(f"lam-ros export lerobot: error: {exc}", file=sys.stderr)
        return 2
    print(f"{result.root}: {result.episodes} episodes, {result.frames} frames at {fps} fps "
          f"({result.gaps} dropped ticks inside episodes), tasks {list(result.tasks)}")
    for path, size in result.file_bytes.items():
        print(f"  {path}: {size / 1e3:.1f} kB")
    left = {**conversion.left_out, **conversion.skipped}
    print(f"left out: {len(conversion.left_out)} failed, {len(conversion.skipped)} unusable"
          + "".join(f"\n  {key}: {why}" for key, why in left.items()))
    print(f"conversion {conversion.seconds:.1f} s, export {result.seconds:.1f} s")
    return 0
