"""Episode recording control, independent of ROS: numbering, episode facts, and a writer thread.

Subscription callbacks only call ``put`` (a queue append), so they stay short at image rates;
one thread owns the EpisodeWriter and writes messages in arrival order. ``stop`` and
``discard`` wait until every message queued before them is written. The queue holds at most
``max_queued_bytes`` of messages: when the disk cannot keep up, further messages are dropped and
counted per topic, so the status and the episode's health account for every message received
(received = written + dropped + failed).
"""

from __future__ import annotations

import queue
import re
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path

from lam_ros.core import features
from lam_ros.data.bag_writer import EpisodeWriter, TopicSpec, free_disk_mb

EPISODE_PATTERN = re.compile(r"^episode_(\d{6})")
MAX_QUEUED_BYTES = 512 * 2**20


def next_episode_index(task_dir: Path) -> int:
    """One past the highest episode number present (quarantined ones included)."""
    numbers = [int(m.group(1)) for p in task_dir.glob("episode_*")
               if (m := EPISODE_PATTERN.match(p.name))]
    return max(numbers, default=-1) + 1


@dataclass
class _Close:
    writer: EpisodeWriter
    custom_data: dict[str, str]
    delete: bool
    done: threading.Event = field(default_factory=threading.Event)
    error: Exception | None = None


class EpisodeRecorder:
    def __init__(self, task_dir: str | Path, flush_period_s: float = 0.5,
                 max_queued_bytes: int = MAX_QUEUED_BYTES):
        if max_queued_bytes <= 0:
            raise ValueError(f"max_queued_bytes must be > 0, got {max_queued_bytes}")
        self.task_dir = Path(task_dir)
        self.flush_period_s = flush_period_s
        self.max_queued_bytes = max_queued_bytes
        self.write_errors = 0
        self.last_error = ""
        self._writer: EpisodeWriter | None = None
        self._start_ns = 0
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._queued_bytes = 0  # message bytes queued or being written
        self._lock = threading.Lock()  # guards _writer and _queued_bytes
        self._thread = threading.Thread(target=self._run, name="episode_writer", daemon=True)
        self._thread.start()

    @property
    def recording(self) -> bool:
        return self._writer is not None

    @property
    def episode_dir(self) -> Path | None:
        writer = self._writer
        return writer.episode_dir if writer else None

    def start(self, topics: list[TopicSpec], custom_data: dict[str, str], now_ns: int) -> Path:
        """Opens the next episode; raises (BagError, OSError) if it cannot be created."""
        with self._lock:
            if self._writer is not None:
                raise RuntimeError(f"already recording {self._writer.episode_dir.name}")
            self.task_dir.mkdir(parents=True, exist_ok=True)
            name = f"episode_{next_episode_index(self.task_dir):06d}"
            data = {**custom_data, features.EPISODE_START: f"{now_ns * 1e-9:.9f}"}
            writer = EpisodeWriter(self.task_dir / name, topics, data, self.flush_period_s)
            self._writer = writer.open()
            self._start_ns = now_ns
            return writer.episode_dir

    def put(self, topic: str, cdr: bytes, receive_ns: int) -> None:
        """Queues a message of the episode's topics; drops it (counted) when the queue is full."""
        with self._lock:
            writer = self._writer
            if writer is None or topic not in writer.topics:  # a topic that appeared mid-episode
                return
            if self._queued_bytes + len(cdr) > self.max_queued_bytes:
                writer.dropped[topic] += 1
                return
            self._queued_bytes += len(cdr)
            self._queue.put((writer, topic, cdr, receive_ns))

    def free_disk_after_queue_mb(self) -> float:
        """Free disk under the task folder once the queued messages are written."""
        return free_disk_mb(self.task_dir) - self._queued_bytes / 2**20

    def stop(self, success: bool, reason: str, now_ns: int) -> Path:
        """Closes the episode with its outcome; returns its directory."""
        data = {features.EPISODE_SUCCESS: "true" if success else "false",
                features.EPISODE_STOP_REASON: reason,
                features.EPISODE_STOP: f"{now_ns * 1e-9:.9f}"}
        return self._close(data, delete=False)

    def discard(self) -> Path:
        """Closes and deletes the episode."""
        return self._close({}, delete=True)

    def _close(self, custom_data: dict[str, str], delete: bool) -> Path:
        with self._lock:
            if self._writer is None:
                raise RuntimeError("not recording")
            request = _Close(self._writer, custom_data, delete)
            self._writer = None
        self._queue.put(request)
        request.done.wait()
        if request.error is not None:
            raise request.error
        return request.writer.episode_dir

    def elapsed_s(self, now_ns: int) -> float:
        return (now_ns - self._start_ns) * 1e-9 if self.recording else 0.0

    def silent_topics(self, now_ns: int, silence_s: float) -> list[str]:
        """Topics quiet for longer than ``silence_s`` (never heard counts from the start)."""
        writer = self._writer
        if writer is None:
            return []
        return [t for t, h in list(writer.health.topics.items())
                if (now_ns - (h.last_receive_ns if h.count else self._start_ns)) * 1e-9
                > silence_s]

    def status(self, now_ns: int) -> dict:
        writer = self._writer
        return {
            "recording": writer is not None,
            "episode": writer.episode_dir.name if writer else "",
            "elapsed_s": round(self.elapsed_s(now_ns), 3),
            "counts": writer.health.counts() if writer else {},
            "dropped": dict(writer.dropped) if writer else {},
            "failed": dict(writer.failed) if writer else {},
            "saved": writer.messages_saved if writer else 0,
            "queued": self._queue.qsize(),
            "queued_bytes": self._queued_bytes,
            "write_errors": self.write_errors,
            "last_error": self.last_error,
        }

    def shutdown(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            if isinstance(item, _Close):
                self._finish(item)
                continue
            writer, topic, cdr, receive_ns = item
            try:
                writer.write(topic, cdr, receive_ns)
            except Exception as exc:  # one bad message must not end the episode
                writer.failed[topic] += 1
                self.write_errors += 1
                self.last_error = f"{topic}: {exc}"
            finally:
                with self._lock:
                    self._queued_bytes -= len(cdr)

    @staticmethod
    def _finish(request: _Close) -> None:
        try:
            request.writer.close(request.custom_data)
            if request.delete:
                shutil.rmtree(request.writer.episode_dir)
        except Exception as exc:  # handed to the caller of stop/discard
            request.error = exc
        finally:
            request.done.set()
