"""One bag -> its episodes: the bag is read once, cut into segments by the split rule (without
one, the whole bag is one episode), and each segment is synchronized on the control grid.

A segment that cannot be converted (no usable message on a topic it needs, a message that could
not be used, no frame left after synchronization) is named with its reason, e.g.
``/data/session[3] (12.0-19.5 s): no usable messages on /joint_states``; the other segments
still convert. Streams are cut by receive time after the whole bag was decoded, so a command
group that spoke before the segment began (a gripper commanded once) is still in force in it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lam_ros.core.profile import RobotProfile
from lam_ros.data.bag_info import fact_notes
from lam_ros.data.episode_bag import EpisodeBagError, RawEpisode, faults_reason, read_bag
from lam_ros.data.episode_split import NS, Segment, SplitRule
from lam_ros.data.sync import Stream, SyncedEpisode, SyncSettings, synchronize

WHOLE_BAG = Segment(0, 0, 2**63 - 1)


@dataclass
class BagEpisodes:
    """What one bag gave: its episodes, and the segments that could not be converted."""

    episodes: list[SyncedEpisode] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # bag dir (split: "dir[i]") -> why
    warnings: list[str] = field(default_factory=list)  # about the bag as a whole


def convert_bag(episode_dir: Path, profile: RobotProfile, settings: SyncSettings,
                rule: SplitRule | None = None) -> BagEpisodes:
    """Raises EpisodeBagError when the bag cannot be read, SplitError when the rule finds no
    episode in it."""
    raw = read_bag(episode_dir, profile, rule.topic if rule else "")
    segments = (rule.segments(episode_dir.name, raw.split_samples, raw.span_ns) if rule
                else [WHOLE_BAG])
    bag = BagEpisodes(warnings=raw.warnings)
    for segment in segments:
        key = f"{episode_dir}[{segment.index}]" if rule else str(episode_dir)
        name = segment.name(str(episode_dir), raw.span_ns[0]) if rule else str(episode_dir)
        try:
            episode = synchronize_segment(raw, segment, profile, settings)
        except EpisodeBagError as exc:
            bag.skipped[key] = f"{name}: {exc}"
            continue
        episode.report.update(episode=name, episode_dir=str(episode_dir), facts=raw.facts,
                              notes=fact_notes(raw.facts), warnings=raw.warnings)
        if rule:
            episode.report["segment"] = {
                "index": segment.index, "label": segment.label,
                "start_s": (segment.start_ns - raw.span_ns[0]) / NS,
                "end_s": (segment.end_ns - raw.span_ns[0]) / NS}
        bag.episodes.append(episode)
    return bag


def synchronize_segment(raw: RawEpisode, segment: Segment, profile: RobotProfile,
                        settings: SyncSettings) -> SyncedEpisode:
    """The segment's messages on the control grid; EpisodeBagError saying why it has none."""
    faults = [f for f in raw.faults if segment.start_ns <= f[0] <= segment.end_ns]
    if faults:
        raise EpisodeBagError(faults_reason(faults, raw.span_ns[0]))

    def cut(stream: Stream, topics: list[str] | tuple[str, ...]) -> Stream:
        part = stream.received_between(segment.start_ns, segment.end_ns)
        if not len(part):
            raise EpisodeBagError(f"no usable messages on {', '.join(topics)}")
        return part

    episode = synchronize(
        cut(raw.joint_positions, profile.joint_state_topics),
        cut(raw.commands, [g.topic for g in profile.command_groups]),
        {c.name: cut(raw.images[c.name], [c.topic]) for c in profile.cameras}, settings,
        raw.policy_sources)
    if episode.n_kept == 0:
        why = episode.report["dropped_because"] or "the topics do not overlap in time"
        raise EpisodeBagError(f"no usable frames after synchronization "
                              f"({episode.report['ticks']} tick(s); {why})")
    return episode
