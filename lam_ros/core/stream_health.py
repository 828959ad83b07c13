"""Per-topic health of a recorded stream: count, mean rate, largest gap, out-of-order stamps.

Fed one message at a time (receive time, and the header stamp when the message has one), so the
recorder can keep it live and the repair tool can rebuild it from a salvaged file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass
class TopicHealth:
    count: int = 0
    first_receive_ns: int = 0
    last_receive_ns: int = 0
    max_gap_ns: int = 0
    out_of_order: int = 0  # header stamps that went backwards
    last_stamp_ns: int = -1

    def add(self, receive_ns: int, stamp_ns: int | None = None) -> None:
        if self.count == 0:
            self.first_receive_ns = receive_ns
        else:
            self.max_gap_ns = max(self.max_gap_ns, receive_ns - self.last_receive_ns)
        self.last_receive_ns = receive_ns
        self.count += 1
        if stamp_ns is not None:
            if stamp_ns < self.last_stamp_ns:
                self.out_of_order += 1
            self.last_stamp_ns = max(stamp_ns, self.last_stamp_ns)

    @property
    def mean_hz(self) -> float:
        span_ns = self.last_receive_ns - self.first_receive_ns
        return (self.count - 1) * 1e9 / span_ns if self.count > 1 and span_ns > 0 else 0.0

    def silent_for_s(self, now_ns: int) -> float:
        """Seconds since the last message (0 before the first one arrives)."""
        return (now_ns - self.last_receive_ns) * 1e-9 if self.count else 0.0

    def summary(self) -> dict[str, float | int]:
        return {
            "count": self.count,
            "mean_hz": round(self.mean_hz, 3),
            "max_gap_s": round(self.max_gap_ns * 1e-9, 6),
            "out_of_order": self.out_of_order,
        }


class StreamHealth:
    """Health of every topic of one episode."""

    def __init__(self, topics: list[str] | tuple[str, ...] = ()):
        self.topics: dict[str, TopicHealth] = {t: TopicHealth() for t in topics}

    def add(self, topic: str, receive_ns: int, stamp_ns: int | None = None) -> None:
        self.topics.setdefault(topic, TopicHealth()).add(receive_ns, stamp_ns)

    def counts(self) -> dict[str, int]:
        return {t: h.count for t, h in self.topics.items()}

    def silent_topics(self, now_ns: int, silence_s: float) -> list[str]:
        """Topics that delivered before but have been quiet for longer than ``silence_s``."""
        return [t for t, h in self.topics.items()
                if h.count and h.silent_for_s(now_ns) > silence_s]

    def summary(self) -> dict[str, dict[str, float | int]]:
        return {t: h.summary() for t, h in sorted(self.topics.items())}

    def to_json(self) -> str:
        return json.dumps(self.summary(), sort_keys=True)
