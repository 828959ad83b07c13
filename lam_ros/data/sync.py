"""Resamples an episode's topics onto a fixed control-rate grid by header stamps (pure numpy).

For each tick: the latest image at or before it (within a tolerance, else the frame is dropped),
joint positions linearly interpolated, and the action is the command in force at the tick (the
latest command at or before it). The grid starts once every stream has data. Actions are kept
for every tick, dropped or not, so action chunks never skip over a dropped frame. Given who sent
the commands (/command_source by receive time), each tick says whether the command in force came
from the policy.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

NS = 1_000_000_000
SOURCE_SLACK_NS = 20_000_000  # a command's /command_source arrives within this of the command


@dataclass
class Stream:
    """One topic's samples, sorted by stamp (int64 nanoseconds on the header clock)."""

    stamps_ns: np.ndarray
    values: np.ndarray
    log_ns: np.ndarray | None = None  # receive times, where known

    def __len__(self) -> int:
        return len(self.stamps_ns)

    def received_between(self, start_ns: int, end_ns: int) -> Stream:
        """The samples received from ``start_ns`` to ``end_ns`` inclusive (one episode of a
        split bag)."""
        keep = (self.log_ns >= start_ns) & (self.log_ns <= end_ns)
        return Stream(self.stamps_ns[keep], self.values[keep], self.log_ns[keep])


@dataclass(frozen=True)
class SyncSettings:
    control_hz: float
    image_tolerance_s: float  # oldest acceptable image age at a tick
    max_joint_gap_s: float  # joint_states gap a tick may be interpolated across

    def __post_init__(self) -> None:
        for key in ("control_hz", "image_tolerance_s", "max_joint_gap_s"):
            if not getattr(self, key) > 0:
                raise ValueError(f"SyncSettings.{key} must be > 0, got {getattr(self, key)!r}")

    @classmethod
    def for_rate(cls, control_hz: float) -> SyncSettings:
        period = 1.0 / control_hz
        return cls(control_hz, image_tolerance_s=period, max_joint_gap_s=2.0 * period)


@dataclass
class SyncedEpisode:
    stamps_ns: np.ndarray  # [T] grid ticks
    joint_positions: np.ndarray  # float32 [T, n_joints]
    actions: np.ndarray  # float32 [T, n_joints], command in force at each tick
    images: dict[str, np.ndarray]  # uint8 [T, H, W, 3]; dropped ticks hold a stale frame
    kept: np.ndarray  # bool [T]: tick usable as an observation
    report: dict = field(default_factory=dict)
    # bool [T]: the command in force came from the policy (a correction episode's own part);
    # None: a demonstration, every command from a person (or a script)
    policy_ticks: np.ndarray | None = None
    # float32 [T, history - 1, n_joints]: joint positions at the ticks before each tick, oldest
    # first (data/history.py); None: a policy without history
    past_positions: np.ndarray | None = None

    @property
    def n_kept(self) -> int:
        return int(self.kept.sum())


def topic_health(stream: Stream) -> dict:
    """count, mean rate and largest gap of one stream, by header stamps."""
    stamps = stream.stamps_ns
    span = (stamps[-1] - stamps[0]) / NS if len(stamps) > 1 else 0.0
    return {
        "count": int(len(stamps)),
        "rate_hz": round((len(stamps) - 1) / span, 3) if span > 0 else 0.0,
        "max_gap_s": round(float(np.diff(stamps).max()) / NS, 6) if len(stamps) > 1 else 0.0,
    }


def control_grid(streams: list[Stream], control_hz: float, not_before_ns: int = 0) -> np.ndarray:
    """Ticks from when every stream has data to when the first one ends, in nanoseconds."""
    start = max(not_before_ns, *(int(s.stamps_ns[0]) for s in streams))
    stop = min(int(s.stamps_ns[-1]) for s in streams)
    if stop < start:
        return np.zeros(0, np.int64)
    period_ns = NS / control_hz
    count = int(np.floor((stop - start) / period_ns + 1e-9)) + 1
    return start + np.round(np.arange(count) * period_ns).astype(np.int64)


def latest_at_or_before(stamps_ns: np.ndarray, ticks_ns: np.ndarray) -> np.ndarray:
    """Index of the latest sample at or before each tick (-1 where none)."""
    return np.searchsorted(stamps_ns, ticks_ns, side="right") - 1


def interpolate(stream: Stream, ticks_ns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-joint linear interpolation at the ticks, and the stamp gap each tick falls in."""
    t = (stream.stamps_ns - stream.stamps_ns[0]).astype(np.float64)
    x = (ticks_ns - stream.stamps_ns[0]).astype(np.float64)
    values = np.stack([np.interp(x, t, stream.values[:, j])
                       for j in range(stream.values.shape[1])], axis=1)
    after = np.clip(np.searchsorted(stream.stamps_ns, ticks_ns, side="left"), 0, len(t) - 1)
    before = np.clip(after - 1, 0, len(t) - 1)
    exact = stream.stamps_ns[after] == ticks_ns
    gaps = np.where(exact, 0, stream.stamps_ns[after] - stream.stamps_ns[before])
    return values, gaps


def synchronize(joints: Stream, commands: Stream, images: dict[str, Stream],
                settings: SyncSettings, policy_sources: Stream | None = None) -> SyncedEpisode:
    """The episode resampled on the control grid, with a report of what was kept and why not.
    ``policy_sources``: 1.0 at the receive times at which the policy said it sent the commands,
    0.0 where a person did."""
    # A command stays in force until the next one, so commands start the grid but never end it.
    ticks = control_grid([joints, *images.values()], settings.control_hz,
                         not_before_ns=int(commands.stamps_ns[0]))
    keep = np.ones(len(ticks), bool)
    reasons: Counter[str] = Counter()
    positions, joint_gaps = interpolate(joints, ticks)
    too_wide = joint_gaps > settings.max_joint_gap_s * NS
    reasons["joint_states gap"] += int(too_wide.sum())
    keep &= ~too_wide
    frames = {}
    for name, stream in images.items():
        index = latest_at_or_before(stream.stamps_ns, ticks)
        age = ticks - stream.stamps_ns[np.maximum(index, 0)]
        stale = (index < 0) | (age > settings.image_tolerance_s * NS)
        reasons[f"image_{name} older than tolerance"] += int((stale & keep).sum())
        keep &= ~stale
        frames[name] = stream.values[np.maximum(index, 0)]
    in_force = np.maximum(latest_at_or_before(commands.stamps_ns, ticks), 0)
    actions = commands.values[in_force]
    policy_ticks = None
    if policy_sources is not None and len(policy_sources) and commands.log_ns is not None:
        # The source goes out with each command, so it may arrive a moment after it.
        said = latest_at_or_before(policy_sources.stamps_ns,
                                   commands.log_ns[in_force] + SOURCE_SLACK_NS)
        policy_ticks = (said >= 0) & (policy_sources.values[np.maximum(said, 0)] > 0.5)
    report = {
        "ticks": int(len(ticks)),
        "frames_kept": int(keep.sum()),
        "frames_dropped": int((~keep).sum()),
        "dropped_because": {k: v for k, v in reasons.items() if v},
        "topics": {"joint_states": topic_health(joints), "command": topic_health(commands),
                   **{f"image_{n}": topic_health(s) for n, s in images.items()}},
    }
    if policy_ticks is not None:
        report["policy_ticks"] = int(policy_ticks.sum())
    return SyncedEpisode(ticks, positions.astype(np.float32), actions.astype(np.float32),
                         frames, keep, report, policy_ticks)
