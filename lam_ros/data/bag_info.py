"""Finding episodes and reading their facts. An episode never reads as silently empty: an
unfinished, quarantined, damaged or message-less one raises BagError saying what to do.

Bags recorded by another tool (``ros2 bag record``) carry no lam_ros facts: one without an
outcome counts as a demonstration (success), one without a profile hash cannot be checked
against the robot profile; ``fact_notes`` says which of these was assumed."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from rosbags.rosbag2 import Reader, ReaderError

from lam_ros.core import features
from lam_ros.data.bag_metadata import METADATA, read_metadata
from lam_ros.data.bag_repair import QUARANTINE_SUFFIX
from lam_ros.data.bag_writer import SIDECAR, BagError


@dataclass(frozen=True)
class EpisodeInfo:
    episode_dir: Path
    message_count: int
    duration_s: float
    topics: dict[str, tuple[str, int]]  # topic -> (msgtype, count)
    custom_data: dict[str, str] = field(default_factory=dict)

    @property
    def success(self) -> bool:
        return recorded_success(self.custom_data)

    @property
    def health(self) -> dict[str, dict]:
        return json.loads(self.custom_data.get(features.EPISODE_HEALTH, "{}"))


def is_episode_dir(path: Path) -> bool:
    if not path.is_dir():
        return False
    markers = (path / METADATA, path / SIDECAR)
    return any(m.exists() for m in markers) or any(path.glob("*.mcap"))


def find_episodes(path: str | Path, include_quarantined: bool = False) -> list[Path]:
    """``path`` itself when it is an episode, else its episode sub-directories in order."""
    path = Path(path)
    if not path.is_dir():
        raise BagError(f"{path} is not a directory")
    if is_episode_dir(path):
        return [path]
    return sorted(p for p in path.iterdir() if is_episode_dir(p)
                  and (include_quarantined or not p.name.endswith(QUARANTINE_SUFFIX)))


def recorded_success(facts: dict[str, str]) -> bool:
    """The episode's outcome; a bag that records none (not a lam_ros recording) is a
    demonstration."""
    return facts.get(features.EPISODE_SUCCESS, "true").lower() == "true"


def fact_notes(facts: dict[str, str]) -> list[str]:
    """What conversion assumes for facts a bag lacks (none for lam_ros's own recordings)."""
    notes = []
    if features.EPISODE_SUCCESS not in facts:
        notes.append(f"no outcome recorded ({features.EPISODE_SUCCESS}): counted as a "
                     "demonstration")
    if features.EPISODE_PROFILE_HASH not in facts:
        notes.append(f"no robot profile hash recorded ({features.EPISODE_PROFILE_HASH}): "
                     "not checked against the profile")
    return notes


def read_custom_data(episode_dir: Path) -> dict[str, str]:
    """metadata.yaml custom_data; BagError naming the problem when metadata.yaml is damaged."""
    return dict(read_metadata(episode_dir).get("custom_data") or {})


def read_episode_info(episode_dir: str | Path) -> EpisodeInfo:
    episode_dir = Path(episode_dir)
    if episode_dir.name.endswith(QUARANTINE_SUFFIX):
        reason = (episode_dir / "REASON.txt").read_text().strip()
        raise BagError(f"{episode_dir} is quarantined: {reason}")
    if not (episode_dir / METADATA).is_file():
        raise BagError(f"{episode_dir} was not closed (recorder killed?); "
                       f"run `lam-ros bag repair {episode_dir}`")
    try:
        custom_data = read_custom_data(episode_dir)
        with Reader(episode_dir) as reader:
            topics = {c.topic: (c.msgtype, c.msgcount) for c in reader.connections}
            info = EpisodeInfo(episode_dir, reader.message_count, reader.duration * 1e-9,
                               topics, custom_data)
    except BagError as exc:
        raise BagError(f"{exc}; run `lam-ros bag repair {episode_dir}`") from None
    except ReaderError as exc:
        raise BagError(f"{episode_dir} is unreadable: {exc}") from None
    if info.message_count == 0:
        raise BagError(f"{episode_dir} holds zero messages")
    return info
