"""Synchronized episodes -> a LeRobotDataset in LeRobot's format v3.0 (parquet tables, one MP4
per camera, JSON and parquet metadata), so any LeRobot policy can train on lam_ros recordings.

Frames: the kept ticks of each episode, the frames ``lam-ros train`` samples (``kept``). A row
holds the joint positions at the tick (``observation.state``), the command in force at it
(``action``) and ``timestamp``, the tick's time on the control grid since the episode's first
kept tick. Where the synchronization dropped a tick, no row stands for it and ``timestamp`` skips
a period (``frame_index`` does not; LeRobot's action windows, which count rows, step over it).

Videos: each camera has one H.264 MP4 holding every episode back to back, one frame per tick
from an episode's first kept tick to its last, so a row's image is the frame at
``from_timestamp + timestamp`` of its episode, where LeRobot's decoders look. A dropped tick's
frame (the stale image the synchronization gave it) stays in the video; no row points at it.

Everything lands in chunk-000/file-000 of data/, videos/ and meta/episodes/, whatever its size
(info.json keeps LeRobot's default file size limits, which only a writer appending obeys).
Names and layout follow LeRobot's v3.0 (``lerobot.datasets``); lerobot itself is not needed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from importlib import resources
from pathlib import Path

import av
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from lam_ros.core import features
from lam_ros.core.profile import RobotProfile
from lam_ros.data.lerobot_stats import image_histogram, image_stats, vector_stats
from lam_ros.data.sync import NS, SyncedEpisode

CODEBASE_VERSION = "v3.0"
STATE = "observation.state"
ACTION = "action"
CHUNKS_SIZE, DATA_FILES_SIZE_IN_MB, VIDEO_FILES_SIZE_IN_MB = 1000, 100, 200  # LeRobot's defaults
FILE = {"chunk_index": 0, "file_index": 0}  # the one file of each kind
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
EPISODES_PATH = "meta/episodes/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
# H.264 (libx264) in yuv420p decodes wherever LeRobot runs (torchcodec or PyAV); a keyframe every
# second frame is LeRobot's own setting, for fast random access.
VIDEO = {"codec": "h264", "pix_fmt": "yuv420p", "g": 2, "crf": 18, "preset": "medium"}
INDEX_FEATURES = ("frame_index", "episode_index", "index", "task_index")  # int64 per row
# The Parquet schema metadata of meta/tasks.parquet: the data-frame layout (indexed by the task
# text, one task_index column) LeRobot's reader rebuilds the table into. Fixed by the format, so
# it is kept as the format writes it, in a data file beside this module.
TASKS_METADATA = "lerobot_tasks_metadata.json"


@dataclass(frozen=True)
class ExportResult:
    root: Path
    episodes: int
    frames: int
    gaps: int  # dropped ticks inside the exported episodes: timestamp skips a period there
    tasks: tuple[str, ...]
    file_bytes: dict[str, int]  # path under root -> size
    seconds: float


def video_key(camera: str) -> str:
    return f"observation.images.{camera}"


def export_fps(requested: int, control_hz: float) -> int:
    """The export's frame rate (the control grid's): ``requested``, else the profile's rate,
    which LeRobot needs to be a whole number."""
    fps = requested or control_hz
    if fps <= 0 or fps != int(fps):
        raise ValueError(f"a LeRobot dataset has a whole, positive frame rate; got {fps} "
                         f"(the profile's control_hz is {control_hz}): pass --fps N")
    return int(fps)


def episode_tasks(episodes: Sequence[SyncedEpisode], text: str = "") -> list[str]:
    """Each episode's task: ``text`` for all, else the task name its bag records."""
    if text:
        return [text] * len(episodes)
    tasks = [e.report.get("facts", {}).get(features.EPISODE_TASK, "") for e in episodes]
    missing = [e.report.get("episode", "?") for e, task in zip(episodes, tasks, strict=True)
               if not task]
    if missing:
        raise ValueError(f"{len(missing)} episode(s) record no task (first: {missing[0]}); "
                         f"pass --task TEXT")
    return tasks


@dataclass(frozen=True)
class _Part:
    """One episode as exported."""

    task: str
    columns: dict[str, np.ndarray]  # the data table's, one row per kept tick
    clips: dict[str, np.ndarray]  # camera -> frames from the first kept tick to the last
    histograms: dict[str, np.ndarray]  # camera -> image_histogram of the rows' images

    @property
    def length(self) -> int:
        return len(self.columns["index"])

    @property
    def video_frames(self) -> int:
        return len(next(iter(self.clips.values())))


def export_lerobot(out_dir: str | Path, episodes: Sequence[SyncedEpisode], tasks: Sequence[str],
                   profile: RobotProfile, fps: int) -> ExportResult:
    """Writes ``episodes`` (synchronized at ``fps``) with their ``tasks`` into ``out_dir``,
    which must be new or empty; ``meta/info.json`` is written last."""
    began = time.perf_counter()
    if len(tasks) != len(episodes):
        raise ValueError(f"{len(episodes)} episodes but {len(tasks)} tasks")
    root = _empty_folder(Path(out_dir))
    task_index = {task: i for i, task in enumerate(dict.fromkeys(tasks))}
    parts, frames = [], 0
    for i, (episode, task) in enumerate(zip(episodes, tasks, strict=True)):
        parts.append(_part(episode, i, frames, task, task_index[task]))
        frames += parts[-1].length
    cameras = list(parts[0].clips)
    _write_frames(root / DATA_PATH.format(**FILE), [p.columns for p in parts])
    for camera in cameras:
        _write_video(root / VIDEO_PATH.format(video_key=video_key(camera), **FILE),
                     [p.clips[camera] for p in parts], fps)
    _write_episodes(root / EPISODES_PATH.format(**FILE), parts, fps)
    _write_tasks(root / "meta" / "tasks.parquet", task_index)
    columns = {key: np.concatenate([p.columns[key] for p in parts]) for key in parts[0].columns}
    histograms = {c: sum(p.histograms[c] for p in parts) for c in cameras}
    _write_json(root / "meta" / "stats.json", _as_lists(_stats(columns, histograms)))
    shapes = {c: parts[0].clips[c].shape[1:] for c in cameras}
    _write_json(root / "meta" / "info.json",
                info(profile, fps, shapes, len(parts), frames, len(task_index)))
    sizes = {str(p.relative_to(root)): p.stat().st_size
             for p in sorted(root.rglob("*")) if p.is_file()}
    return ExportResult(root, len(parts), frames, sum(p.video_frames - p.length for p in parts),
                        tuple(task_index), sizes, time.perf_counter() - began)


def _frame_columns(episode: SyncedEpisode, ticks: np.ndarray, episode_index: int, start: int,
                  task_index: int) -> dict[str, np.ndarray]:
    """The data table's columns for the episode's ``ticks``; ``start`` is the first row's
    ``index`` in the dataset."""
    stamps = episode.stamps_ns[ticks]
    n = len(ticks)
    return {STATE: episode.joint_positions[ticks], ACTION: episode.actions[ticks],
            "timestamp": ((stamps - stamps[0]) / NS).astype(np.float32),
            "frame_index": np.arange(n), "episode_index": np.full(n, episode_index),
            "index": start + np.arange(n), "task_index": np.full(n, task_index)}


def _part(episode: SyncedEpisode, episode_index: int, start: int, task: str,
          task_index: int) -> _Part:
    ticks = np.flatnonzero(episode.kept)
    return _Part(task, _frame_columns(episode, ticks, episode_index, start, task_index),
                 {c: frames[ticks[0]:ticks[-1] + 1] for c, frames in episode.images.items()},
                 {c: image_histogram(frames[ticks]) for c, frames in episode.images.items()})


def info(profile: RobotProfile, fps: int, image_shapes: dict[str, tuple[int, ...]],
         episodes: int, frames: int, tasks: int) -> dict:
    """``meta/info.json``."""
    joints = list(profile.joint_names)
    vector = {"dtype": "float32", "shape": [len(joints)], "names": joints}
    videos = {video_key(camera): {
        "dtype": "video", "shape": list(shape), "names": ["height", "width", "channels"],
        "info": {"video.height": shape[0], "video.width": shape[1],
                 "video.codec": VIDEO["codec"], "video.pix_fmt": VIDEO["pix_fmt"],
                 "video.fps": fps, "video.channels": shape[2], "video.g": VIDEO["g"],
                 "video.crf": VIDEO["crf"], "video.preset": VIDEO["preset"],
                 "has_audio": False, "is_depth_map": False}}
        for camera, shape in image_shapes.items()}
    scalars = {"timestamp": "float32", **dict.fromkeys(INDEX_FEATURES, "int64")}
    return {
        "codebase_version": CODEBASE_VERSION, "robot_type": profile.name,
        "total_episodes": episodes, "total_frames": frames, "total_tasks": tasks,
        "chunks_size": CHUNKS_SIZE, "data_files_size_in_mb": DATA_FILES_SIZE_IN_MB,
        "video_files_size_in_mb": VIDEO_FILES_SIZE_IN_MB, "fps": fps,
        "splits": {"train": f"0:{episodes}"}, "data_path": DATA_PATH, "video_path": VIDEO_PATH,
        "features": {**videos, STATE: vector, ACTION: vector,
                     **{key: {"dtype": dtype, "shape": [1], "names": None}
                        for key, dtype in scalars.items()}},
    }


def _empty_folder(root: Path) -> Path:
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise FileExistsError(f"{root} already exists and is not an empty folder; "
                              f"choose a new --out")
    root.mkdir(parents=True, exist_ok=True)
    return root


def _write_frames(path: Path, columns: list[dict[str, np.ndarray]]) -> None:
    """The data table, one row group per episode (as LeRobot writes it)."""
    tables = [pa.table({key: _arrow(values) for key, values in cols.items()}) for cols in columns]
    path.parent.mkdir(parents=True, exist_ok=True)
    with pq.ParquetWriter(path, tables[0].schema, compression="snappy") as writer:
        for table in tables:
            writer.write_table(table)


def _arrow(values: np.ndarray) -> pa.Array:
    """A column; vectors become fixed-size lists (LeRobot's shape-[d] features)."""
    if values.ndim == 1:
        return pa.array(values)
    return pa.FixedSizeListArray.from_arrays(pa.array(values.ravel()), values.shape[1])


def _write_video(path: Path, clips: list[np.ndarray], fps: int) -> None:
    """The clips' uint8 RGB frames back to back in one MP4, frame k at k / fps."""
    height, width = clips[0].shape[1:3]
    if height % 2 or width % 2:
        raise ValueError(f"{path.parent.parent.name}: {width}x{height} images cannot be encoded "
                         f"in {VIDEO['pix_fmt']}, which needs an even width and height")
    path.parent.mkdir(parents=True, exist_ok=True)
    options = {key: str(VIDEO[key]) for key in ("g", "crf", "preset")}
    with av.open(str(path), "w") as container:
        stream = container.add_stream(VIDEO["codec"], rate=fps, options=options)
        stream.height, stream.width, stream.pix_fmt = height, width, VIDEO["pix_fmt"]
        for k, rgb in enumerate(frame for clip in clips for frame in clip):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = k, Fraction(1, fps)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())  # flush


def _stats(columns: dict[str, np.ndarray], histograms: dict[str, np.ndarray]) -> dict:
    frames = len(columns["index"])
    return {**{video_key(c): image_stats(h, frames) for c, h in histograms.items()},
            **{key: vector_stats(values) for key, values in columns.items()}}


def _as_lists(stats: dict) -> dict:
    return {key: {name: value.tolist() for name, value in s.items()} for key, s in stats.items()}


def _write_episodes(path: Path, parts: list[_Part], fps: int) -> None:
    """``meta/episodes``: one row per episode saying where its rows and video frames are, with
    its statistics."""
    records, video_start = [], 0
    for i, part in enumerate(parts):
        first_row = int(part.columns["index"][0])
        record = {"episode_index": i, "tasks": [part.task], "length": part.length,
                  "data/chunk_index": FILE["chunk_index"], "data/file_index": FILE["file_index"],
                  "dataset_from_index": first_row, "dataset_to_index": first_row + part.length}
        for camera in part.clips:
            key = f"videos/{video_key(camera)}"
            record.update({f"{key}/chunk_index": FILE["chunk_index"],
                           f"{key}/file_index": FILE["file_index"],
                           f"{key}/from_timestamp": video_start / fps,
                           f"{key}/to_timestamp": (video_start + part.video_frames) / fps})
        video_start += part.video_frames
        stats = _as_lists(_stats(part.columns, part.histograms))
        record.update({f"stats/{feature}/{name}": value
                       for feature, values in stats.items() for name, value in values.items()})
        record.update({"meta/episodes/chunk_index": FILE["chunk_index"],
                       "meta/episodes/file_index": FILE["file_index"]})
        records.append(record)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(records), path)


def _write_tasks(path: Path, task_index: dict[str, int]) -> None:
    """``meta/tasks.parquet``: LeRobot reads it as a data frame indexed by the task text with a
    ``task_index`` column; the schema metadata (``TASKS_METADATA``) says so."""
    table = pa.table({"task_index": pa.array(list(task_index.values()), pa.int64()),
                      "task": pa.array(list(task_index), pa.string())})
    layout = json.loads(resources.files(__package__).joinpath(TASKS_METADATA).read_text())
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table.replace_schema_metadata(
        {key: json.dumps(value) for key, value in layout.items()}), path)


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=4) + "\n")
