"""Episode writer: one rosbag2 directory (MCAP storage) per demonstration episode.

Messages are stored as the raw CDR bytes that came off the wire, with receive time as log time.
Crash safety: chunks are flushed to the file as they close, and a chunk is closed at least every
``flush_period_s`` of wall time (not ROS time, which may be a paused sim clock), so a killed
recorder leaves a file whose complete chunks ``lam_ros.data.bag_repair`` can salvage. The first
message is flushed as soon as it is written; the period counts from the last flush. A sidecar
JSON (removed on a clean close) keeps the episode's facts so the repaired bag gets them back.
metadata.yaml appears only once it and the storage file are on disk: it marks a closed episode.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from rosbags.interfaces import (
    Connection,
    Qos,
    QosDurability,
    QosHistory,
    QosLiveliness,
    QosReliability,
    QosTime,
)
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from lam_ros.core import features
from lam_ros.core.stream_health import StreamHealth
from lam_ros.data.bag_metadata import (
    METADATA,
    BagError,
    fsync_path,
    replace_durably,
    write_text_atomic,
)

TYPESTORE = get_typestore(Stores.ROS2_KILTED)
SIDECAR = "lam_ros_recording.json"  # present only while an episode is being written
PENDING_METADATA = ".metadata.pending.yaml"  # rosbags writes here; renamed once on disk
BAG_VERSION = 9


@dataclass(frozen=True)
class TopicSpec:
    """A recorded topic and the QoS its publisher offered."""

    topic: str
    msgtype: str  # e.g. "sensor_msgs/msg/Image"
    reliable: bool = False
    transient_local: bool = False
    depth: int = 10

    def __post_init__(self) -> None:
        if self.msgtype not in TYPESTORE.fielddefs:
            raise BagError(f"topic {self.topic}: unknown message type {self.msgtype!r}")

    def offered_qos(self) -> Qos:
        never = QosTime(sec=0x7FFFFFFF, nsec=0xFFFFFFFF)  # rosbag2's "infinite" duration
        return Qos(
            history=QosHistory.KEEP_LAST,
            depth=self.depth,
            reliability=QosReliability.RELIABLE if self.reliable else QosReliability.BEST_EFFORT,
            durability=(QosDurability.TRANSIENT_LOCAL if self.transient_local
                        else QosDurability.VOLATILE),
            deadline=never,
            lifespan=never,
            liveliness=QosLiveliness.AUTOMATIC,
            liveliness_lease_duration=never,
            avoid_ros_namespace_conventions=False,
        )


def has_stamp(msgtype: str) -> bool:
    """True when the message starts with a header or a time (its CDR begins with a stamp)."""
    first_field_type = TYPESTORE.fielddefs[msgtype][1][0][1][1]
    return first_field_type in ("std_msgs/msg/Header", "builtin_interfaces/msg/Time")


def cdr_stamp_ns(cdr: bytes | memoryview) -> int:
    """The leading stamp of a CDR message (after the 4-byte encapsulation header)."""
    endian = "<" if cdr[1] == 1 else ">"
    sec, nanosec = struct.unpack_from(f"{endian}iI", cdr, 4)
    return sec * 1_000_000_000 + nanosec


def free_disk_mb(path: str | Path) -> float:
    """Free space on the file system holding ``path`` (its nearest existing parent)."""
    path = Path(path)
    while not path.exists():
        path = path.parent
    return shutil.disk_usage(path).free / 2**20


class EpisodeWriter:
    """Writes one episode; not thread safe (the recorder calls it from one writer thread)."""

    def __init__(self, episode_dir: str | Path, topics: list[TopicSpec],
                 custom_data: dict[str, str], flush_period_s: float = 0.5):
        self.episode_dir = Path(episode_dir)
        self.custom_data = dict(custom_data)
        self.flush_period_ns = int(flush_period_s * 1e9)
        self.health = StreamHealth([t.topic for t in topics])
        self._topics = list(topics)
        self._writer: Writer | None = None
        self._connections: dict[str, Connection] = {}
        self._stamped: dict[str, bool] = {}
        self._last_flush_ns: int | None = None  # monotonic; None until the first flush
        self.messages_saved = 0  # messages in complete chunks in the file: a kill keeps them
        # Messages that reached the recorder but not the file, per topic: dropped (its queue was
        # full) or failed (the write raised). Received = written + dropped + failed.
        self.dropped = dict.fromkeys(self.topics, 0)
        self.failed = dict.fromkeys(self.topics, 0)

    def open(self) -> EpisodeWriter:
        if self.episode_dir.exists():
            raise BagError(f"episode directory {self.episode_dir} exists already")
        self._writer = Writer(self.episode_dir, version=BAG_VERSION,
                              storage_plugin=StoragePlugin.MCAP)
        self._writer.open()
        for spec in self._topics:
            self._add(spec)
        self._write_sidecar()
        return self

    def _add(self, spec: TopicSpec) -> None:
        self._connections[spec.topic] = self._writer.add_connection(
            spec.topic, spec.msgtype, typestore=TYPESTORE,
            offered_qos_profiles=[spec.offered_qos()])
        self._stamped[spec.topic] = has_stamp(spec.msgtype)

    def _write_sidecar(self) -> None:
        sidecar = {"custom_data": self.custom_data, "topics": [asdict(t) for t in self._topics],
                   "writer_pid": os.getpid()}
        write_text_atomic(self.episode_dir / SIDECAR, json.dumps(sidecar, indent=1))

    def write(self, topic: str, cdr: bytes | memoryview, receive_ns: int) -> None:
        """Stores one raw message; an unknown topic raises BagError naming it."""
        connection = self._connections.get(topic)
        if connection is None:
            raise BagError(f"{self.episode_dir.name}: topic {topic} was not declared")
        stamp_ns = cdr_stamp_ns(cdr) if self._stamped[topic] and len(cdr) >= 12 else None
        self._writer.write(connection, receive_ns, cdr)
        self.health.add(topic, receive_ns, stamp_ns)
        self._flush_if_due(time.monotonic_ns())

    def _flush_if_due(self, now_ns: int) -> None:
        # rosbags closes a chunk at 1 MiB; slow streams get theirs closed by time, so a kill
        # costs at most flush_period_s of messages. Flushing Python's buffer puts the chunk in
        # the OS page cache, which outlives a killed process.
        storage = self._writer.storage
        due = (self._last_flush_ns is None
               or now_ns - self._last_flush_ns >= self.flush_period_ns)
        if due and storage.chunk.bio.tell():
            storage.close_chunk()
        if due or storage.chunk.bio.tell() == 0:
            storage.bio.flush()
            self._last_flush_ns = now_ns
            self.messages_saved = self.message_count

    @property
    def topics(self) -> tuple[str, ...]:
        return tuple(t.topic for t in self._topics)

    def health_summary(self) -> dict[str, dict]:
        """Stream health per topic, with count (written), received, dropped and failed."""
        summary = self.health.summary()
        for topic, written in self.health.counts().items():
            dropped, failed = self.dropped.get(topic, 0), self.failed.get(topic, 0)
            summary[topic].update(received=written + dropped + failed, dropped=dropped,
                                  failed=failed)
        return summary

    @property
    def message_count(self) -> int:
        return sum(self.health.counts().values())

    def close(self, extra_custom_data: dict[str, str] | None = None) -> Path:
        """Finishes the bag with its metadata.yaml (custom_data, health) and drops the sidecar."""
        data = {**self.custom_data, **(extra_custom_data or {})}
        data.setdefault(features.EPISODE_STATUS, "complete")
        data[features.EPISODE_HEALTH] = json.dumps(self.health_summary(), sort_keys=True)
        for key, value in data.items():
            self._writer.set_custom_data(key, str(value))
        storage_path = self._writer.storage.path
        self._writer.metapath = self.episode_dir / PENDING_METADATA  # rosbags writes it there
        self._writer.close()
        fsync_path(storage_path)  # the storage file is on disk before the metadata names it
        replace_durably(self.episode_dir / PENDING_METADATA, self.episode_dir / METADATA)
        (self.episode_dir / SIDECAR).unlink(missing_ok=True)
        return self.episode_dir
