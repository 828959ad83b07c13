"""LeRobot's side of `lam-ros bench lerobot_check`: `python bench/lerobot_load.py ROOT OUT.npz
--fps N [--window 10] [--indices 0,5,...]`.

Loads a LeRobotDataset v3.0 folder with LeRobot's own `LeRobotDataset` (an action window of
--window steps, as ACT trains) and saves the sampled rows to OUT.npz: `observation.state`,
`action` (rows x window x joints), each camera's frames (rows x H x W x 3, grey levels 0-255) and
`meta` (JSON: episodes, frames, video backend, tasks, seconds). Needs only lerobot and numpy, not
lam_ros, so it runs in a separate environment (lerobot does not install beside lam_ros's pins).
Exits with status 3 when lerobot does not import.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

NO_LEROBOT = 3  # exit status when lerobot (or numpy) does not import in this interpreter

try:
    import numpy as np
    from lerobot.datasets.lerobot_dataset import LeRobotDataset
except ImportError as exc:
    print(f"lerobot does not import in {sys.executable}: {exc}", file=sys.stderr)
    sys.exit(NO_LEROBOT)


def video_backend() -> str:
    """torchcodec, LeRobot's default, where it finds FFmpeg's shared libraries; else PyAV."""
    try:
        from torchcodec.decoders import VideoDecoder  # noqa: F401
    except (ImportError, OSError, RuntimeError):
        return "pyav"
    return "torchcodec"


def load_samples(root: Path, fps: int, window: int, indices: list[int] | None
                 ) -> dict[str, np.ndarray]:
    """Rows `indices` (default: all) of the dataset at `root`, as LeRobotDataset returns them."""
    began = time.perf_counter()
    backend = video_backend()
    dataset = LeRobotDataset("lam_ros/export", root=root, video_backend=backend,
                             delta_timestamps={"action": [k / fps for k in range(window)]})
    rows: dict[str, list[np.ndarray]] = {}
    tasks: list[str] = []
    for i in range(len(dataset)) if indices is None else indices:
        item = dataset[i]
        tasks.append(item["task"])
        rows.setdefault("observation.state", []).append(item["observation.state"].numpy())
        rows.setdefault("action", []).append(item["action"].numpy())
        for key in dataset.meta.video_keys:  # float CHW in [0, 1]
            rows.setdefault(key, []).append(item[key].numpy().transpose(1, 2, 0) * 255)
    meta = {"episodes": dataset.num_episodes, "frames": len(dataset), "backend": backend,
            "tasks": tasks, "seconds": time.perf_counter() - began}
    return {"meta": np.array(json.dumps(meta)), **{k: np.stack(v) for k, v in rows.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("root", type=Path, help="LeRobotDataset v3.0 folder")
    parser.add_argument("out", type=Path, help=".npz file to write")
    parser.add_argument("--fps", type=int, required=True, help="the dataset's fps")
    parser.add_argument("--window", type=int, default=10, help="action steps per row")
    parser.add_argument("--indices", help="comma-separated rows (default: all)")
    args = parser.parse_args()
    indices = [int(i) for i in args.indices.split(",")] if args.indices else None
    np.savez(args.out, **load_samples(args.root, args.fps, args.window, indices))


if __name__ == "__main__":
    main()
