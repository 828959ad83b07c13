"""An independent reader of a LeRobotDataset v3.0 folder, for the export's tests and
bench/lerobot_check.py: pyarrow for the tables, PyAV for the videos, nothing from lam_ros.

It finds things the way LeRobot does: an episode's rows are ``dataset_from_index`` to
``dataset_to_index`` of the data file its ``data/chunk_index`` and ``data/file_index`` name; a
row's image is the frame of its camera's video at ``from_timestamp + timestamp``, which must lie
within LeRobot's default tolerance of 1e-4 s.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

TOLERANCE_S = 1e-4


@dataclass
class Episode:
    episode_index: int
    tasks: list[str]  # the episodes table's list
    row_tasks: list[str]  # each row's task, through task_index and meta/tasks.parquet
    state: np.ndarray  # float32 [n, J]
    action: np.ndarray  # float32 [n, J]
    timestamp: np.ndarray  # float32 [n]
    frame_index: np.ndarray
    index: np.ndarray
    images: dict[str, np.ndarray]  # video key -> uint8 [n, H, W, 3]


def read_dataset(root: str | Path) -> tuple[dict, list[Episode]]:
    """``meta/info.json`` and every episode, in episode order."""
    root = Path(root)
    info = json.loads((root / "meta" / "info.json").read_text())
    tasks_table = pq.read_table(root / "meta" / "tasks.parquet").to_pydict()
    tasks = dict(zip(tasks_table["task_index"], tasks_table["task"], strict=True))
    episodes = pa.concat_tables([pq.read_table(p) for p in
                                 sorted((root / "meta" / "episodes").glob("*/*.parquet"))])
    episodes = episodes.sort_by("episode_index").to_pylist()
    video_keys = [k for k, f in info["features"].items() if f["dtype"] == "video"]
    files: dict[Path, object] = {}  # path -> its table or decoded video, read once

    def data(ep: dict) -> dict:
        path = root / info["data_path"].format(chunk_index=ep["data/chunk_index"],
                                               file_index=ep["data/file_index"])
        table = files.setdefault(path, pq.read_table(path))
        rows = table.filter((pc.field("index") >= ep["dataset_from_index"])
                            & (pc.field("index") < ep["dataset_to_index"]))
        return rows.sort_by("index").to_pydict()

    def video(key: str, ep: dict) -> tuple[np.ndarray, np.ndarray]:
        path = root / info["video_path"].format(
            video_key=key, chunk_index=ep[f"videos/{key}/chunk_index"],
            file_index=ep[f"videos/{key}/file_index"])
        if path not in files:
            files[path] = decode(path)
        return files[path]

    out = []
    for ep in episodes:
        rows = data(ep)
        assert rows["episode_index"] == [ep["episode_index"]] * ep["length"], "another episode"
        images = {}
        for key in video_keys:
            stamps, frames = video(key, ep)
            wanted = ep[f"videos/{key}/from_timestamp"] + np.array(rows["timestamp"], np.float64)
            nearest = np.abs(stamps[None, :] - wanted[:, None]).argmin(axis=1)
            off = np.abs(stamps[nearest] - wanted).max()
            assert off <= TOLERANCE_S, f"{key}: no frame within {TOLERANCE_S} s ({off} s off)"
            images[key] = frames[nearest]
        out.append(Episode(
            ep["episode_index"], ep["tasks"], [tasks[i] for i in rows["task_index"]],
            np.array(rows["observation.state"], np.float32), np.array(rows["action"], np.float32),
            np.array(rows["timestamp"], np.float32), np.array(rows["frame_index"]),
            np.array(rows["index"]), images))
    return info, out


def decode(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Every frame's presentation time (s) and RGB pixels, in presentation order."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        decoded = [(float(f.pts * stream.time_base), f.to_ndarray(format="rgb24"))
                   for f in container.decode(stream)]
    decoded.sort(key=lambda item: item[0])
    return np.array([t for t, _ in decoded]), np.stack([f for _, f in decoded])
