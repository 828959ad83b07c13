"""Rates over a sliding window of wall time, for /diagnostics: messages received per second on a
topic, simulated seconds per wall second (the real-time factor), and the longest silence.

Pure: times are seconds on whatever monotonic clock the caller reads.
"""

from __future__ import annotations

from collections import deque
from itertools import pairwise


class WindowedRate:
    """How fast a growing total (messages received, sim seconds) grew per wall second over the
    last ``window_s``, and the longest wall time without an update there.

    Keeps the updates inside the window plus the last one before it (at first, the start), so
    the rate spans whole intervals from the start on, and a total that stops growing reads 0
    one window later.
    """

    def __init__(self, window_s: float, start_s: float, start_total: float = 0.0):
        if not window_s > 0:
            raise ValueError(f"window_s must be > 0, got {window_s}")
        self.window_s = window_s
        self._updates: deque[tuple[float, float]] = deque([(start_s, start_total)])

    @property
    def total(self) -> float:
        return self._updates[-1][1]

    def add(self, now_s: float, total: float) -> None:
        self._updates.append((now_s, total))
        self._prune(now_s)

    def _prune(self, now_s: float) -> None:
        updates = self._updates
        while len(updates) > 1 and updates[1][0] <= now_s - self.window_s:
            updates.popleft()

    def rate(self, now_s: float) -> float:
        """Growth of the total per second, from the last update before the window to now."""
        self._prune(now_s)
        (since_s, since_total), (_, total) = self._updates[0], self._updates[-1]
        return (total - since_total) / (now_s - since_s) if now_s > since_s else 0.0

    def longest_gap_s(self, now_s: float) -> float:
        """The longest wall time between updates that ends inside the window, the silence
        since the last update (or since the start) included."""
        self._prune(now_s)
        times = [t for t, _ in self._updates] + [now_s]
        return max(later - earlier for earlier, later in pairwise(times))

    def silent_s(self, now_s: float) -> float:
        """Seconds since the last update (or since the start)."""
        return now_s - self._updates[-1][0]


class TopicRates:
    """Receive rate and longest gap of each watched topic over the last ``window_s``."""

    def __init__(self, window_s: float):
        self.window_s = window_s
        self.topics: dict[str, WindowedRate] = {}

    def watch(self, topic: str, now_s: float) -> None:
        """Starts watching ``topic``: until its first message, its silence counts from now."""
        self.topics.setdefault(topic, WindowedRate(self.window_s, now_s))

    def received(self, topic: str, now_s: float) -> None:
        window = self.topics[topic]
        window.add(now_s, window.total + 1)

    def silent(self, now_s: float, silence_s: float) -> list[str]:
        """Watched topics without a message for longer than ``silence_s``."""
        return sorted(t for t, w in self.topics.items() if w.silent_s(now_s) > silence_s)
