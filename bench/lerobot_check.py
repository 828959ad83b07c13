"""`lam-ros export lerobot` checked on real bags: `lam-ros bench lerobot_check [--data DIR]
[--robot panda_sim] [--out DIR] [--cache-dir DIR] [--lerobot-python PATH]`.

Converts the bags as training does, exports them as a LeRobotDataset v3.0 and reads the export
back with the independent reader of the tests (pyarrow + PyAV, test/unit/lerobot_reader.py).
Prints episodes, frames, file sizes, seconds, and the largest difference from lam_ros's own
conversion: states, actions, timestamps on the control grid, and images (mean grey levels per
frame; H.264 yuv420p is lossy). Then LeRobot's own LeRobotDataset loads the export (with a
10-step action window, as ACT trains) in bench/lerobot_load.py, run by --lerobot-python, the
python of a separate environment that has lerobot (default: this one), and sampled rows are
compared with the reader. lerobot does not install beside this project's pins (lerobot 0.4.4
wants torch < 2.11, opencv-python-headless < 4.13); where it does not import and no
--lerobot-python is given, the bench says so and skips that part. Without --data it writes 5
synthetic episodes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from lam_ros.core.profile import RobotProfile, load_profile
from lam_ros.data.cache import convert_dataset
from lam_ros.data.lerobot_export import episode_tasks, export_fps, export_lerobot, video_key
from lam_ros.data.sync import NS, SyncedEpisode

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "test" / "unit"))
from episode_bag_factory import write_dataset  # noqa: E402
from lerobot_reader import Episode, read_dataset  # noqa: E402

LOADER = REPO / "bench" / "lerobot_load.py"  # LeRobot's side, in any interpreter with lerobot
NO_LEROBOT = 3  # its exit status when lerobot does not import there

ACTION_WINDOW = 10  # rows of actions LeRobot returns per sample in the LeRobot check


def differences(expected: list[SyncedEpisode], read: list[Episode]) -> dict[str, float]:
    """The largest differences between the conversion's kept frames and what was read."""
    worst = {"state": 0.0, "action": 0.0, "timestamp_s": 0.0, "image_mean": 0.0,
             "image_worst_frame": 0.0}
    errors = []
    for episode, got in zip(expected, read, strict=True):
        ticks = np.flatnonzero(episode.kept)
        grid = (episode.stamps_ns[ticks] - episode.stamps_ns[ticks[0]]) / NS
        worst["state"] = max(worst["state"],
                             float(np.abs(got.state - episode.joint_positions[ticks]).max()))
        worst["action"] = max(worst["action"],
                              float(np.abs(got.action - episode.actions[ticks]).max()))
        worst["timestamp_s"] = max(worst["timestamp_s"], float(np.abs(got.timestamp - grid).max()))
        for camera, frames in episode.images.items():
            decoded = got.images[video_key(camera)].astype(int)
            errors.append(np.abs(decoded - frames[ticks]).mean(axis=(1, 2, 3)))
    errors = np.concatenate(errors)
    worst.update(image_mean=float(errors.mean()), image_worst_frame=float(errors.max()))
    return worst


class NoLeRobot(Exception):
    """lerobot does not import in the interpreter given."""


def lerobot_samples(python: str, root: Path, fps: int, indices: list[int]
                    ) -> dict[str, np.ndarray]:
    """Rows `indices` as LeRobotDataset returns them, loaded by bench/lerobot_load.py under
    `python`."""
    with tempfile.TemporaryDirectory(prefix="lam_ros_lerobot_load_") as tmp:
        out = Path(tmp) / "samples.npz"
        env = {**os.environ, "HF_HOME": tmp, "HF_HUB_OFFLINE": "1"}  # no hub, no ~/.cache
        done = subprocess.run(
            [python, str(LOADER), str(root), str(out), "--fps", str(fps), "--window",
             str(ACTION_WINDOW), "--indices", ",".join(map(str, indices))],
            env=env, capture_output=True, text=True, check=False)
        if done.returncode == NO_LEROBOT:
            raise NoLeRobot(done.stderr.strip())
        if done.returncode != 0:
            raise SystemExit(f"LeRobot: {LOADER.name} failed under {python} (exit "
                             f"{done.returncode}):\n{done.stderr[-3000:]}")
        with np.load(out) as samples:
            return {key: samples[key] for key in samples.files}


def lerobot_check(root: Path, read: list[Episode], fps: int, python: str | None,
                  samples: int = 50) -> None:
    """Loads the export with LeRobot's LeRobotDataset (in `python`, default this interpreter)
    and compares sampled rows with what the reader read."""
    rows = [(episode, r) for episode in read for r in range(len(episode.state))]
    indices = np.linspace(0, len(rows) - 1, min(samples, len(rows))).round().astype(int)
    try:
        got = lerobot_samples(python or sys.executable, root, fps, indices.tolist())
    except NoLeRobot as exc:
        if python:
            raise SystemExit(f"LeRobot: {exc}; make that environment as the README says "
                             f"(Export to LeRobot)") from None
        print(f"LeRobot: not checked, {exc}; it does not install beside lam_ros's pins: "
              f"give the python of an environment that has it with --lerobot-python")
        return
    meta = json.loads(str(got["meta"]))
    assert meta["frames"] == len(rows), f"LeRobot sees {meta['frames']} frames, not {len(rows)}"
    worst = {"state": 0.0, "action": 0.0, "image": 0.0}
    for n, i in enumerate(indices):
        episode, r = rows[i]
        steps = np.minimum(r + np.arange(ACTION_WINDOW), len(episode.action) - 1)
        assert meta["tasks"][n] == episode.row_tasks[r], f"row {i}: task {meta['tasks'][n]!r}"
        worst["state"] = max(worst["state"], float(np.abs(
            got["observation.state"][n] - episode.state[r]).max()))
        worst["action"] = max(worst["action"], float(np.abs(
            got["action"][n] - episode.action[steps]).max()))
        for key, frames in episode.images.items():
            worst["image"] = max(worst["image"], float(np.abs(got[key][n] - frames[r]).mean()))
    print(f"LeRobot ({python or sys.executable}): LeRobotDataset loaded {meta['episodes']} "
          f"episodes, {meta['frames']} frames; {len(indices)} samples ({meta['backend']} video "
          f"decoding) in {meta['seconds']:.1f} s; max |diff| vs the reader: state "
          f"{worst['state']:.2e}, action window {worst['action']:.2e}, image "
          f"{worst['image']:.2f} grey levels (mean per frame)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", help="episode bags (default: 5 synthetic episodes)")
    parser.add_argument("--robot", default="panda_sim", help="robot profile of the bags")
    parser.add_argument("--out", help="dataset folder to create and keep (default: temporary)")
    parser.add_argument("--cache-dir", help="converted-episode cache (default: temporary)")
    parser.add_argument("--lerobot-python", help="python of a separate environment that has "
                        "lerobot, to load the export with LeRobotDataset (default: this one)")
    args = parser.parse_args()
    python = None
    if args.lerobot_python:
        python = shutil.which(args.lerobot_python)
        if python is None:
            parser.error(f"--lerobot-python {args.lerobot_python}: no such executable")
    profile = load_profile(args.robot)
    with tempfile.TemporaryDirectory(prefix="lam_ros_lerobot_") as tmp:
        work = Path(tmp)
        data = Path(args.data) if args.data else work / "data"
        if not args.data:
            write_dataset(data, profile, episodes=5, ticks=60)
        check(data, profile, Path(args.out) if args.out else work / "dataset",
              Path(args.cache_dir) if args.cache_dir else work / "cache", python)


def check(data: Path, profile: RobotProfile, out: Path, cache_dir: Path,
          lerobot_python: str | None) -> None:
    fps = export_fps(0, profile.control_hz)
    conversion = convert_dataset(data, profile, cache_dir=cache_dir, progress=False)
    print(f"bags: {data}: {len(conversion.episodes)} episodes, converted "
          f"{conversion.converted} in {conversion.seconds:.1f} s (the rest were cached)")
    result = export_lerobot(out, conversion.episodes, episode_tasks(conversion.episodes),
                            profile, fps)
    print(f"export: {result.root}: {result.episodes} episodes, {result.frames} frames, "
          f"{result.gaps} dropped ticks inside episodes, {result.seconds:.1f} s")
    for path, size in result.file_bytes.items():
        print(f"  {path}: {size / 1e3:.1f} kB")
    began = time.perf_counter()
    info, read = read_dataset(result.root)
    seconds = time.perf_counter() - began
    assert (info["total_episodes"], info["total_frames"]) == (result.episodes, result.frames)
    worst = differences(conversion.episodes, read)
    print(f"reader (pyarrow + PyAV): {len(read)} episodes, {sum(len(e.state) for e in read)} "
          f"frames in {seconds:.1f} s; max |diff| vs the conversion: state {worst['state']:.2e}, "
          f"action {worst['action']:.2e}, timestamp {worst['timestamp_s']:.2e} s; images: "
          f"{worst['image_mean']:.2f} grey levels on average, worst frame "
          f"{worst['image_worst_frame']:.2f}")
    lerobot_check(result.root, read, fps, lerobot_python)


if __name__ == "__main__":
    main()
