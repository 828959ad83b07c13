"""`lam-ros bag info <dir>`, `lam-ros bag repair <dir>` and `lam-ros bag report <dir>`: <dir> is
a task folder of episodes or one episode folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from lam_ros.core import features
from lam_ros.core.profile import load_profile
from lam_ros.data.bag_info import find_episodes, read_episode_info
from lam_ros.data.bag_repair import repair_episode
from lam_ros.data.bag_writer import BagError
from lam_ros.data.cache import convert_dataset, recorded_profile
from lam_ros.data.demo_report import episode_stats, summary_rows
from lam_ros.kinematics import Kinematics


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    info = sub.add_parser("info", help="episode facts and per-topic health")
    info.add_argument("path", type=Path, help="task folder or episode folder")
    repair = sub.add_parser("repair", help="salvage or quarantine unfinished episodes")
    repair.add_argument("path", type=Path, help="task folder or episode folder")
    report = sub.add_parser("report", help="how the demonstrations were made: duration, idle "
                                           "share, path against the straightest, speed, outcome")
    report.add_argument("path", type=Path, help="task folder")
    report.add_argument("--robot", default="",
                        help="robot profile (default: the one the episodes record)")
    report.add_argument("--cache-dir", default="", help="conversion cache (as for train)")


def run(args: argparse.Namespace) -> int:
    if args.action == "report":
        return report(args.path, args.robot, args.cache_dir)
    try:
        episodes = find_episodes(args.path, include_quarantined=args.action == "info")
    except BagError as exc:
        print(f"error: {exc}")
        return 2
    if not episodes:
        print(f"error: no episodes under {args.path}")
        return 2
    return (show_info if args.action == "info" else repair)(episodes)


def show_info(episodes: list[Path]) -> int:
    problems = 0
    for episode_dir in episodes:
        try:
            info = read_episode_info(episode_dir)
        except BagError as exc:
            print(f"{episode_dir.name}: UNUSABLE: {exc}")
            problems += 1
            continue
        data = info.custom_data
        print(f"{episode_dir.name}: {info.message_count} messages, {info.duration_s:.2f} s, "
              f"success={data.get(features.EPISODE_SUCCESS, '?')} "
              f"status={data.get(features.EPISODE_STATUS, '?')} "
              f"task={data.get(features.EPISODE_TASK, '?')} "
              f"seed={data.get(features.EPISODE_SEED, '-')}")
        if data.get(features.EPISODE_STOP_REASON):
            print(f"  stop reason: {data[features.EPISODE_STOP_REASON]}")
        health = info.health
        for topic, (msgtype, count) in sorted(info.topics.items()):
            h = health.get(topic, {})
            print(f"  {topic:<40} {msgtype:<36} {count:>7} msgs "
                  f"{h.get('mean_hz', 0.0):8.2f} Hz  max gap {h.get('max_gap_s', 0.0):.3f} s  "
                  f"out-of-order {h.get('out_of_order', 0)}")
    print(f"{len(episodes)} episode(s), {problems} unusable")
    return 1 if problems else 0


def repair(episodes: list[Path]) -> int:
    """Repairs each episode; one that cannot be repaired is reported and the rest go on."""
    counts = {"intact": 0, "recording": 0, "repaired": 0, "quarantined": 0, "failed": 0}
    for episode_dir in episodes:
        try:
            result = repair_episode(episode_dir)
        except (BagError, OSError) as exc:
            print(f"{episode_dir.name}: repair failed: {exc}")
            counts["failed"] += 1
            continue
        counts[result.status] += 1
        if result.status != "intact":
            print(f"{episode_dir.name}: {result.status} -> {result.episode_dir}: {result.reason}")
    print(", ".join(f"{n} {status}" for status, n in counts.items()
                    if n or status not in ("recording", "failed")))
    return 1 if counts["failed"] else 0


def report(data_dir: Path, robot: str, cache_dir: str) -> int:
    """Every episode (failed ones too) converted as training converts it, then measured."""
    try:
        profile = load_profile(robot or recorded_profile(data_dir))
        conversion = convert_dataset(data_dir, profile, cache_dir=cache_dir or None,
                                     include_failed=True)
    except (BagError, ValueError) as exc:
        print(f"error: {exc}")
        return 2
    hand_of = Kinematics(profile).forward
    stats = []
    for episode in conversion.episodes:
        facts = episode.report.get("facts", {})
        outcome = {"true": "success", "false": "failure"}.get(
            facts.get(features.EPISODE_SUCCESS, ""), "unknown")
        kept = episode.kept
        stats.append(episode_stats(Path(episode.report["episode_dir"]).name, outcome,
                                   episode.joint_positions[kept], episode.actions[kept], profile,
                                   lambda q: hand_of(q)[0]))
    print("| episode | outcome | duration s | idle | idle before s | idle after s | "
          "path / straightest | speed m/s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for s in stats:
        print(f"| {s.episode} | {s.outcome} | {s.duration_s:.1f} | {s.idle_share:.0%} | "
              f"{s.idle_before_s:.1f} | {s.idle_after_s:.1f} | {s.path_ratio:.2f} | "
              f"{s.speed_mps:.3f} |")
    print()
    for what, value in summary_rows(stats):
        print(f"{what}: {value}")
    for key, why in conversion.skipped.items():
        print(f"unusable: {key}: {why}")
    return 0
