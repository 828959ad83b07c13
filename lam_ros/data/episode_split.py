"""Splitting one long bag into episodes by a rule the user gives (pure: receive times in,
segments out).

A rule is one spec string (``lam-ros train --split SPEC``):

  gap:TOPIC:SECONDS  an episode is a run of messages on TOPIC with no silence longer than
                     SECONDS inside it (demonstrations separated by idle time)
  topic:TOPIC        std_msgs/Bool: an episode while it is true; std_msgs/String: each new
                     non-empty value starts an episode (its label), "" is between episodes
  times:FILE         YAML or JSON: a list of [start, end] seconds from the bag's start, for
                     every bag; or a mapping of bag folder name -> such a list

Times are receive (log) times, the clock a bag is ordered by, so a rule also works on topics
without header stamps. A bag's segments are numbered from 0, in time order (file order for
``times``). A rule that finds no episode in a bag raises SplitError saying why.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml

NS = 1_000_000_000
MARKER_TYPES = ("std_msgs/msg/Bool", "std_msgs/msg/String")  # what topic: rules read
EVERY_BAG = "*"  # a times file that is a plain list applies to every bag
USAGE = "expected gap:TOPIC:SECONDS, topic:TOPIC or times:FILE"


class SplitError(ValueError):
    """A split rule is malformed, or finds no episode in a bag; the message says which."""


@dataclass(frozen=True)
class Segment:
    """One episode of a bag: the messages received from ``start_ns`` to ``end_ns`` inclusive."""

    index: int
    start_ns: int
    end_ns: int
    label: str = ""  # the value of a std_msgs/String episode topic

    def name(self, bag: str, bag_start_ns: int) -> str:
        """``bag[3] (12.0-19.5 s)``: times from the bag's start."""
        start, end = ((t - bag_start_ns) / NS for t in (self.start_ns, self.end_ns))
        return f"{bag}[{self.index}] ({start:.1f}-{end:.1f} s)"


@dataclass
class TopicSamples:
    """What a rule reads from its topic: receive times, and each message's ``data`` for the
    marker types (None for others)."""

    topic: str
    msgtype: str = ""  # "" while no message has been seen
    log_ns: list[int] = field(default_factory=list)
    values: list[object] = field(default_factory=list)

    def add(self, msgtype: str, log_ns: int, value: object) -> None:
        self.msgtype = msgtype
        self.log_ns.append(log_ns)
        self.values.append(value)


def _check_topic(topic: str) -> None:
    if not topic.startswith("/"):
        raise SplitError(f"split topic must be absolute, got {topic!r}")


@dataclass(frozen=True)
class GapRule:
    topic: str
    gap_s: float

    def __post_init__(self) -> None:
        _check_topic(self.topic)
        if not (math.isfinite(self.gap_s) and self.gap_s > 0):
            raise SplitError(f"split gap must be a positive number of seconds, got {self.gap_s}")

    def cache_token(self, bag: str) -> str:
        return f"gap:{self.topic}:{self.gap_s!r}"

    def segments(self, bag: str, samples: TopicSamples, span_ns: tuple[int, int]
                 ) -> list[Segment]:
        if not samples.log_ns:
            raise SplitError(f"no messages on {self.topic} to split at gaps")
        times = sorted(samples.log_ns)
        segments, start = [], times[0]
        for before, after in zip(times, times[1:], strict=False):
            if after - before > self.gap_s * NS:
                segments.append(Segment(len(segments), start, before))
                start = after
        segments.append(Segment(len(segments), start, times[-1]))
        return segments


@dataclass(frozen=True)
class TopicRule:
    topic: str

    def __post_init__(self) -> None:
        _check_topic(self.topic)

    def cache_token(self, bag: str) -> str:
        return f"topic:{self.topic}"

    def segments(self, bag: str, samples: TopicSamples, span_ns: tuple[int, int]
                 ) -> list[Segment]:
        """An episode starts at a true (or new non-empty) value and ends just before the
        message that changes it, or at the bag's end."""
        if samples.msgtype not in MARKER_TYPES:
            found = samples.msgtype or "no messages"
            raise SplitError(f"episode topic {self.topic} holds {found}; it must be "
                             f"{' or '.join(MARKER_TYPES)}")
        segments: list[Segment] = []
        current, start = None, 0
        for log_ns, value in zip(samples.log_ns, samples.values, strict=True):
            if value == current:
                continue
            if current:
                segments.append(Segment(len(segments), start, log_ns - 1, _label(current)))
            current, start = value, log_ns
        if current:
            segments.append(Segment(len(segments), start, span_ns[1], _label(current)))
        if not segments:
            raise SplitError(f"episode topic {self.topic} never starts an episode (never true, "
                             "or never a non-empty string)")
        return segments


def _label(value: object) -> str:
    return value if isinstance(value, str) else ""


@dataclass(frozen=True)
class TimesRule:
    path: str
    windows: dict[str, tuple[tuple[float, float], ...]]  # bag folder name or EVERY_BAG -> s

    @property
    def topic(self) -> str:
        return ""  # reads no topic

    @classmethod
    def load(cls, path: str) -> TimesRule:
        try:
            document = yaml.safe_load(Path(path).read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise SplitError(f"split times file {path}: {exc}") from None
        if isinstance(document, list):
            document = {EVERY_BAG: document}
        if not isinstance(document, dict) or not document:
            raise SplitError(f"split times file {path}: expected a list of [start, end] seconds "
                             "or a mapping of bag folder name -> such a list")
        return cls(path, {str(bag): _windows(path, bag, entries)
                          for bag, entries in document.items()})

    def bag_windows(self, bag: str) -> tuple[tuple[float, float], ...]:
        found = self.windows.get(bag, self.windows.get(EVERY_BAG))
        if found is None:
            raise SplitError(f"split times file {self.path} lists no times for bag {bag!r}")
        return found

    def cache_token(self, bag: str) -> str:
        return f"times:{json.dumps(self.bag_windows(bag))}"

    def segments(self, bag: str, samples: TopicSamples | None, span_ns: tuple[int, int]
                 ) -> list[Segment]:
        return [Segment(i, span_ns[0] + round(start * NS), span_ns[0] + round(end * NS))
                for i, (start, end) in enumerate(self.bag_windows(bag))]


def _windows(path: str, bag: object, entries: object) -> tuple[tuple[float, float], ...]:
    if not isinstance(entries, list) or not entries:
        raise SplitError(f"split times file {path}: {bag}: expected a list of [start, end]")
    windows = []
    for entry in entries:
        ok = (isinstance(entry, list) and len(entry) == 2
              and all(isinstance(v, (int, float)) and math.isfinite(v) for v in entry)
              and 0 <= entry[0] < entry[1])
        if not ok:
            raise SplitError(f"split times file {path}: {bag}: {entry!r} is not [start, end] "
                             "seconds with 0 <= start < end")
        windows.append((float(entry[0]), float(entry[1])))
    return tuple(windows)


SplitRule = GapRule | TopicRule | TimesRule


def parse_split(spec: str) -> SplitRule | None:
    """The rule a spec names (None for ""); SplitError naming a malformed one."""
    if not spec:
        return None
    kind, _, rest = spec.partition(":")
    if kind == "gap":
        topic, _, seconds = rest.rpartition(":")
        try:
            gap_s = float(seconds)
        except ValueError:
            raise SplitError(f"split rule {spec!r}: {seconds!r} is not seconds; {USAGE}") from None
        return GapRule(topic, gap_s)
    if kind == "topic":
        return TopicRule(rest)
    if kind == "times" and rest:
        return TimesRule.load(rest)
    raise SplitError(f"split rule {spec!r}: {USAGE}")
