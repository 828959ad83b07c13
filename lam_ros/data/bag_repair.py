"""Salvage or quarantine an episode whose recorder died before closing it, or whose
metadata.yaml is missing or damaged.

A killed recorder leaves an MCAP file without its summary section and no metadata.yaml. Every
chunk that reached the file before the kill is complete and readable, so repair reads records in
file order until the truncation point, then rewrites a clean bag (status ``repaired``). A closed
MCAP file holds its own copy of the bag's metadata, so a missing or damaged metadata.yaml next to
one is rebuilt from it, facts included. A file with nothing to salvage is moved aside as
``<episode>.quarantined`` with a REASON.txt, so no reader ever takes it for an empty episode.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

import yaml
from mcap.exceptions import McapError
from mcap.reader import make_reader
from mcap.records import Channel, Message, Schema
from mcap.stream_reader import StreamReader

from lam_ros.core import features
from lam_ros.data.bag_metadata import METADATA, read_metadata, write_text_atomic
from lam_ros.data.bag_writer import (
    PENDING_METADATA,
    SIDECAR,
    BagError,
    EpisodeWriter,
    TopicSpec,
)

QUARANTINE_SUFFIX = ".quarantined"


@dataclass(frozen=True)
class RepairResult:
    episode_dir: Path  # where the episode is now (a quarantined one has moved)
    status: str  # "intact" | "recording" | "repaired" | "quarantined"
    messages: int
    reason: str


@dataclass
class Salvage:
    topics: dict[int, tuple[str, str]]  # channel id -> (topic, msgtype)
    messages: list[tuple[int, int, bytes]]  # (log time ns, channel id, cdr)
    stopped_by: str  # why reading ended


def salvage_mcap(path: Path) -> Salvage:
    """Reads schemas, channels and messages up to the first truncated or corrupt record."""
    schemas: dict[int, str] = {}
    salvage = Salvage({}, [], "end of file")
    try:
        with path.open("rb") as f:
            for record in StreamReader(f).records:
                if isinstance(record, Schema):
                    schemas[record.id] = record.name
                elif isinstance(record, Channel):
                    salvage.topics[record.id] = (record.topic, schemas.get(record.schema_id, ""))
                elif isinstance(record, Message) and record.channel_id in salvage.topics:
                    salvage.messages.append((record.log_time, record.channel_id, record.data))
    except (McapError, EOFError, ValueError, OSError, struct.error) as exc:  # cut mid-record
        salvage.stopped_by = f"{type(exc).__name__}: {exc}"
    return salvage


def closed_bag_info(path: Path) -> dict | None:
    """The rosbag2 metadata a closed MCAP file holds (rosbag2 and rosbags store it on close);
    None for an unfinished or damaged file."""
    try:
        with path.open("rb") as f:
            reader = make_reader(f)
            if reader.get_summary() is None:
                return None
            stored = [m.metadata.get("serialized_metadata") for m in reader.iter_metadata()
                      if m.name == "rosbag2"]
            info = yaml.safe_load(stored[0]) if stored else None
    except (McapError, EOFError, ValueError, OSError, struct.error, yaml.YAMLError):
        return None
    return info if isinstance(info, dict) else None


def quarantine(episode_dir: Path, reason: str) -> Path:
    """Moves an unusable episode aside with a REASON.txt; readers skip it."""
    target = episode_dir.with_name(episode_dir.name + QUARANTINE_SUFFIX)
    episode_dir.rename(target)
    (target / "REASON.txt").write_text(reason.rstrip() + "\n")
    return target


def repair_episode(episode_dir: str | Path) -> RepairResult:
    """Leaves an intact episode alone; rebuilds, salvages or quarantines a broken one."""
    episode_dir = Path(episode_dir)
    damaged = ""  # what was wrong with metadata.yaml, when it is there
    if (episode_dir / METADATA).is_file():
        try:
            read_metadata(episode_dir)
            return RepairResult(episode_dir, "intact", -1, "metadata.yaml present and valid")
        except BagError as exc:
            damaged = f"{exc}; "
    elif (pid := _live_writer(episode_dir)) is not None:
        return RepairResult(episode_dir, "recording", -1, f"recorder process {pid} is writing it")
    mcaps = sorted(episode_dir.glob("*.mcap"))
    if len(mcaps) != 1:
        reason = f"{damaged}expected one .mcap file, found {[p.name for p in mcaps]}"
        return RepairResult(quarantine(episode_dir, reason), "quarantined", 0, reason)
    if (info := closed_bag_info(mcaps[0])) is not None:
        _write_metadata(episode_dir, info, mcaps[0].name)
        info = read_metadata(episode_dir)  # BagError if even the stored copy is unusable
        for leftover in (SIDECAR, PENDING_METADATA):
            (episode_dir / leftover).unlink(missing_ok=True)
        reason = f"{damaged}metadata.yaml rebuilt from the copy in the closed {mcaps[0].name}"
        return RepairResult(episode_dir, "repaired", info["message_count"], reason)
    salvage = salvage_mcap(mcaps[0])
    if not salvage.messages:
        reason = (f"{damaged}{mcaps[0].name} ({mcaps[0].stat().st_size} bytes) holds no "
                  f"complete message; reading stopped at: {salvage.stopped_by}")
        return RepairResult(quarantine(episode_dir, reason), "quarantined", 0, reason)
    reason = (f"{damaged}recorder stopped without closing the bag; salvaged "
              f"{len(salvage.messages)} messages, reading stopped at: {salvage.stopped_by}")
    _rewrite(episode_dir, salvage, reason)
    return RepairResult(episode_dir, "repaired", len(salvage.messages), reason)


def _live_writer(episode_dir: Path) -> int | None:
    """The pid of another live process still writing this episode, if any."""
    pid = _sidecar(episode_dir).get("writer_pid")
    if not pid or pid == os.getpid():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:  # alive, owned by someone else
        return pid
    return pid


def _sidecar(episode_dir: Path) -> dict:
    path = episode_dir / SIDECAR
    return json.loads(path.read_text()) if path.is_file() else {"custom_data": {}, "topics": []}


def _rewrite(episode_dir: Path, salvage: Salvage, reason: str) -> None:
    sidecar = _sidecar(episode_dir)
    offered = {t["topic"]: TopicSpec(**t) for t in sidecar["topics"]}
    topics = [offered.get(topic) or TopicSpec(topic, msgtype)
              for topic, msgtype in salvage.topics.values()]
    scratch = episode_dir.with_name(f".{episode_dir.name}.repairing")
    broken = episode_dir.with_name(f".{episode_dir.name}.broken")
    for leftover in (scratch, broken):
        shutil.rmtree(leftover, ignore_errors=True)
    writer = EpisodeWriter(scratch, topics, sidecar["custom_data"]).open()
    try:
        for log_ns, channel_id, cdr in sorted(salvage.messages, key=lambda m: m[0]):
            writer.write(salvage.topics[channel_id][0], cdr, log_ns)
    except BagError:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    writer.close({
        features.EPISODE_STATUS: "repaired",
        features.EPISODE_SUCCESS: "false",
        features.EPISODE_STOP_REASON: reason,
    })
    # rosbags names the storage file after its directory; keep the episode's own name.
    (scratch / f"{scratch.name}.mcap").rename(scratch / f"{episode_dir.name}.mcap")
    info = yaml.safe_load((scratch / METADATA).read_text())["rosbag2_bagfile_information"]
    _write_metadata(scratch, info, f"{episode_dir.name}.mcap")
    episode_dir.rename(broken)
    scratch.rename(episode_dir)
    shutil.rmtree(broken)


def _write_metadata(bag_dir: Path, info: dict, storage_name: str) -> None:
    """metadata.yaml holding ``info`` (rosbag2_bagfile_information) for the one storage file."""
    info = {**info, "relative_file_paths": [storage_name],
            "files": [{**f, "path": storage_name} for f in info.get("files") or []]}
    write_text_atomic(bag_dir / METADATA,
                      yaml.safe_dump({"rosbag2_bagfile_information": info}, sort_keys=False))
