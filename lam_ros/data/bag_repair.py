"""Salvage or quarantine an episode whose recorder died before closing it.

A killed recorder leaves an MCAP file without its summary section and no metadata.yaml. Every
chunk that reached the file before the kill is complete and readable, so repair reads records in
file order until the truncation point, then rewrites a clean bag (status ``repaired``). A file
with nothing to salvage is moved aside as ``<episode>.quarantined`` with a REASON.txt, so no
reader ever takes it for an empty episode.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

from mcap.exceptions import McapError
from mcap.records import Channel, Message, Schema
from mcap.stream_reader import StreamReader

from lam_ros.core import features
from lam_ros.data.bag_writer import SIDECAR, BagError, EpisodeWriter, TopicSpec

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


def quarantine(episode_dir: Path, reason: str) -> Path:
    """Moves an unusable episode aside with a REASON.txt; readers skip it."""
    target = episode_dir.with_name(episode_dir.name + QUARANTINE_SUFFIX)
    episode_dir.rename(target)
    (target / "REASON.txt").write_text(reason.rstrip() + "\n")
    return target


def repair_episode(episode_dir: str | Path) -> RepairResult:
    """Leaves a finished episode alone; salvages or quarantines an unfinished one."""
    episode_dir = Path(episode_dir)
    if (episode_dir / "metadata.yaml").is_file():
        return RepairResult(episode_dir, "intact", -1, "metadata.yaml present")
    if (pid := _live_writer(episode_dir)) is not None:
        return RepairResult(episode_dir, "recording", -1, f"recorder process {pid} is writing it")
    mcaps = sorted(episode_dir.glob("*.mcap"))
    if len(mcaps) != 1:
        reason = f"expected one .mcap file, found {[p.name for p in mcaps]}"
        return RepairResult(quarantine(episode_dir, reason), "quarantined", 0, reason)
    salvage = salvage_mcap(mcaps[0])
    if not salvage.messages:
        reason = (f"{mcaps[0].name} ({mcaps[0].stat().st_size} bytes) holds no complete "
                  f"message; reading stopped at: {salvage.stopped_by}")
        return RepairResult(quarantine(episode_dir, reason), "quarantined", 0, reason)
    reason = (f"recorder stopped without closing the bag; salvaged {len(salvage.messages)} "
              f"messages, reading stopped at: {salvage.stopped_by}")
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
    (scratch / f"{scratch.name}.mcap").rename(scratch / f"{episode_dir.name}.mcap")
    _fix_file_name(scratch, scratch.name, episode_dir.name)
    episode_dir.rename(broken)
    scratch.rename(episode_dir)
    shutil.rmtree(broken)


def _fix_file_name(bag_dir: Path, old: str, new: str) -> None:
    # rosbags names the storage file after its directory; keep the episode's own name.
    meta = bag_dir / "metadata.yaml"
    meta.write_text(meta.read_text().replace(f"{old}.mcap", f"{new}.mcap"))
