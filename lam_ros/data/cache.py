"""Converts episode bags to synchronized arrays once, cached as .npz keyed by bag content.

The key covers the bag files (name, size, mtime), metadata.yaml, the robot profile and the sync
settings, so a second run with the same data does not reconvert, and a changed bag or setting
does. A damaged bag (or one with a missing or damaged metadata.yaml) is salvaged or skipped with
a warning naming it and why; an episode never silently becomes zero frames.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from lam_ros.core import features
from lam_ros.core.profile import RobotProfile
from lam_ros.data.bag_info import read_custom_data
from lam_ros.data.episode_bag import (
    EpisodeBagError,
    find_episode_dirs,
    find_unusable_dirs,
    read_episode,
    storage_files,
)
from lam_ros.data.sync import SyncedEpisode, SyncSettings, synchronize

CONVERSION_VERSION = 3  # bump when the conversion's output changes meaning


class ConversionWarning(UserWarning):
    """An episode was salvaged or skipped during conversion."""


@dataclass
class ConversionResult:
    episodes: list[SyncedEpisode]
    episode_dirs: list[Path]
    left_out: dict[str, str] = field(default_factory=dict)  # failed demonstrations -> why
    skipped: dict[str, str] = field(default_factory=dict)  # unconvertible episode dir -> why
    converted: int = 0  # episodes decoded from bags in this run (the rest came from the cache)
    bytes_read: int = 0  # storage bytes of the bags decoded in this run
    seconds: float = 0.0


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "lam_ros" / "episodes"


def cache_key(episode_dir: Path, profile: RobotProfile, settings: SyncSettings) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps([CONVERSION_VERSION, profile.fingerprint(), asdict(settings)])
                  .encode())
    digest.update((episode_dir / "metadata.yaml").read_bytes())
    for path in storage_files(episode_dir):
        stat = path.stat()
        digest.update(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:24]


def save_episode(path: Path, episode: SyncedEpisode) -> None:
    arrays = {f"image_{name}": frames for name, frames in episode.images.items()}
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, stamps_ns=episode.stamps_ns, joint_positions=episode.joint_positions,
             actions=episode.actions, kept=episode.kept,
             report=np.array(json.dumps(episode.report)), **arrays)
    tmp.replace(path)  # a killed run never leaves a half-written cache entry


def load_episode(path: Path) -> SyncedEpisode:
    with np.load(path, allow_pickle=False) as data:
        images = {k[len("image_"):]: data[k] for k in data.files if k.startswith("image_")}
        return SyncedEpisode(data["stamps_ns"], data["joint_positions"], data["actions"],
                             images, data["kept"], json.loads(str(data["report"])))


def convert_episode(episode_dir: Path, profile: RobotProfile,
                    settings: SyncSettings) -> SyncedEpisode:
    raw = read_episode(episode_dir, profile)
    for message in raw.warnings:
        warnings.warn(message, ConversionWarning, stacklevel=2)
    episode = synchronize(raw.joint_positions, raw.commands, raw.images, settings)
    if episode.n_kept == 0:
        raise EpisodeBagError(f"{episode_dir}: no usable frames after synchronization "
                              f"({episode.report})")
    episode.report["warnings"] = raw.warnings
    episode.report["episode_dir"] = str(episode_dir)
    episode.report["facts"] = raw.facts
    return episode


def select_episodes(data_dir: str | Path, include_failed: bool) -> tuple[list[Path], dict]:
    """Episode dirs to train on, and those left out (failed demonstrations) with why."""
    chosen, left_out = [], {}
    for episode_dir in find_episode_dirs(data_dir):
        success = read_custom_data(episode_dir).get(features.EPISODE_SUCCESS, "")
        if success.lower() == "true" or include_failed:
            chosen.append(episode_dir)
        else:
            left_out[str(episode_dir)] = f"{features.EPISODE_SUCCESS}={success or 'unset'}"
    return chosen, left_out


def check_recorded_profile(episode_dirs: list[Path], profile: RobotProfile,
                           allow_mismatch: bool = False) -> None:
    """Refuses episodes recorded for another robot profile (a different hash than
    ``profile``'s), naming both; with ``allow_mismatch`` they are only warned about."""
    wanted = profile.fingerprint()
    mismatched = []
    for episode_dir in episode_dirs:
        data = read_custom_data(episode_dir)
        recorded = data.get(features.EPISODE_PROFILE_HASH, "")
        if recorded and recorded != wanted:
            mismatched.append(f"{episode_dir.name} (robot "
                              f"{data.get(features.EPISODE_PROFILE, '?')!r}, hash {recorded})")
    if not mismatched:
        return
    message = (f"{len(mismatched)} episode(s) were recorded with another robot profile than "
               f"{profile.name!r} (hash {wanted}): {', '.join(mismatched[:3])}"
               f"{' ...' if len(mismatched) > 3 else ''}")
    if not allow_mismatch:
        raise EpisodeBagError(f"{message}; convert with the profile they were recorded for, or "
                              f"pass --allow-profile-mismatch if the difference is harmless")
    warnings.warn(f"{message}; converting anyway (--allow-profile-mismatch)", ConversionWarning,
                  stacklevel=3)


def convert_dataset(data_dir: str | Path, profile: RobotProfile, *,
                    settings: SyncSettings | None = None, cache_dir: str | Path | None = None,
                    include_failed: bool = False, progress: bool = True,
                    allow_profile_mismatch: bool = False) -> ConversionResult:
    """Every usable episode under ``data_dir``, converted or loaded from the cache; episodes
    recorded for another profile are refused (see ``check_recorded_profile``)."""
    settings = settings or SyncSettings.for_rate(profile.control_hz)
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    episode_dirs, left_out = select_episodes(data_dir, include_failed)
    check_recorded_profile(episode_dirs, profile, allow_profile_mismatch)
    result = ConversionResult([], [], left_out)
    for unusable, why in find_unusable_dirs(data_dir).items():
        result.skipped[str(unusable)] = why
        warnings.warn(f"skipped episode: {why}", ConversionWarning, stacklevel=2)
    began = time.perf_counter()
    for episode_dir in tqdm(episode_dirs, desc="converting episodes", unit="ep",
                            disable=not progress):
        _add_episode(result, episode_dir, profile, settings, cache)
    result.seconds = time.perf_counter() - began
    if not result.episodes:
        raise EpisodeBagError(f"no usable episodes under {data_dir} (skipped: {result.skipped})")
    return result


def _add_episode(result: ConversionResult, episode_dir: Path, profile: RobotProfile,
                 settings: SyncSettings, cache: Path) -> None:
    entry = cache / f"{cache_key(episode_dir, profile, settings)}.npz"
    if entry.is_file():
        result.episodes.append(load_episode(entry))
        result.episode_dirs.append(episode_dir)
        return
    try:
        episode = convert_episode(episode_dir, profile, settings)
    except Exception as exc:  # one bad bag must not stop the others; it is named and skipped
        why = str(exc) if isinstance(exc, EpisodeBagError) else (
            f"{episode_dir}: {type(exc).__name__}: {exc}")
        result.skipped[str(episode_dir)] = why
        warnings.warn(f"skipped episode: {why}", ConversionWarning, stacklevel=3)
        return
    result.converted += 1
    result.bytes_read += sum(p.stat().st_size for p in storage_files(episode_dir))
    save_episode(entry, episode)
    result.episodes.append(episode)
    result.episode_dirs.append(episode_dir)
