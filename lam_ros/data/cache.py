"""Converts episode bags to synchronized arrays once, cached as one .npz per bag keyed by its
content.

The key covers the bag files (name, size, mtime), metadata.yaml, the robot profile, the sync
settings and the split rule (for ``times``, the bag's own windows), so a second run with the
same data does not reconvert, and a changed bag, setting or rule does. An entry holds the bag's
episodes (one per segment of a split bag) and the segments that could not be converted, with
why. A damaged bag (or one with a missing or damaged metadata.yaml) is salvaged or skipped with
a warning naming it and why; an episode never silently becomes zero frames. A bag without
lam_ros's facts (``ros2 bag record``) converts too, with one note per bag saying what was
assumed (see ``bag_info.fact_notes``).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from lam_ros.core import features
from lam_ros.core.profile import RobotProfile
from lam_ros.data.bag_info import fact_notes, read_custom_data, recorded_success
from lam_ros.data.episode_bag import (
    EpisodeBagError,
    find_episode_dirs,
    find_unusable_dirs,
    storage_files,
)
from lam_ros.data.episode_segments import BagEpisodes, convert_bag
from lam_ros.data.episode_split import SplitError, SplitRule
from lam_ros.data.sync import SyncedEpisode, SyncSettings

CONVERSION_VERSION = 5  # bump when the conversion's output changes meaning


class ConversionWarning(UserWarning):
    """An episode was salvaged or skipped during conversion."""


@dataclass
class ConversionResult:
    episodes: list[SyncedEpisode]
    episode_dirs: list[Path]  # each episode's bag (a split bag appears once per episode)
    left_out: dict[str, str] = field(default_factory=dict)  # failed demonstrations -> why
    # unconvertible bag dir (a split bag's segment: "dir[i]") -> why
    skipped: dict[str, str] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)  # bag dir -> facts assumed
    converted: int = 0  # episodes decoded from bags in this run (the rest came from the cache)
    bytes_read: int = 0  # storage bytes of the bags decoded in this run
    seconds: float = 0.0


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "lam_ros" / "episodes"


def cache_key(episode_dir: Path, profile: RobotProfile, settings: SyncSettings,
              split_token: str = "") -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps([CONVERSION_VERSION, profile.fingerprint(), asdict(settings),
                              split_token]).encode())
    digest.update((episode_dir / "metadata.yaml").read_bytes())
    for path in storage_files(episode_dir):
        stat = path.stat()
        digest.update(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:24]


def save_entry(path: Path, bag: BagEpisodes) -> None:
    """The bag's episodes (arrays prefixed by their index) and skipped segments."""
    arrays = {}
    for i, episode in enumerate(bag.episodes):
        arrays.update({f"{i}_stamps_ns": episode.stamps_ns,
                       f"{i}_joint_positions": episode.joint_positions,
                       f"{i}_actions": episode.actions, f"{i}_kept": episode.kept})
        if episode.policy_ticks is not None:
            arrays[f"{i}_policy_ticks"] = episode.policy_ticks
        arrays.update({f"{i}_image_{name}": frames for name, frames in episode.images.items()})
    reports = [episode.report for episode in bag.episodes]
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, reports=np.array(json.dumps(reports)),
             skipped=np.array(json.dumps(bag.skipped)), **arrays)
    tmp.replace(path)  # a killed run never leaves a half-written cache entry


def load_entry(path: Path) -> BagEpisodes:
    with np.load(path, allow_pickle=False) as data:
        bag = BagEpisodes(skipped=json.loads(str(data["skipped"])))
        for i, report in enumerate(json.loads(str(data["reports"]))):
            prefix = f"{i}_image_"
            images = {k[len(prefix):]: data[k] for k in data.files if k.startswith(prefix)}
            bag.episodes.append(SyncedEpisode(
                data[f"{i}_stamps_ns"], data[f"{i}_joint_positions"], data[f"{i}_actions"],
                images, data[f"{i}_kept"], report,
                data[f"{i}_policy_ticks"] if f"{i}_policy_ticks" in data.files else None))
    return bag


def select_episodes(data_dir: str | Path, include_failed: bool) -> tuple[list[Path], dict]:
    """Episode dirs to train on, and those left out (failed demonstrations) with why. A bag
    that records no outcome is a demonstration."""
    chosen, left_out = [], {}
    for episode_dir in find_episode_dirs(data_dir):
        facts = read_custom_data(episode_dir)
        if recorded_success(facts) or include_failed:
            chosen.append(episode_dir)
        else:
            left_out[str(episode_dir)] = (f"{features.EPISODE_SUCCESS}="
                                          f"{facts[features.EPISODE_SUCCESS]}")
    return chosen, left_out


def recorded_profile(data_dir: str | Path) -> str:
    """The robot profile every episode under ``data_dir`` records; ValueError asking for
    --robot when they record none or several."""
    names = {read_custom_data(d).get(features.EPISODE_PROFILE, "")
             for d in find_episode_dirs(data_dir)}
    if not names:
        raise ValueError(f"no episode bags under {data_dir}")
    if len(names) == 1 and "" not in names:
        return names.pop()
    found = sorted(n for n in names if n) or "no profile"
    raise ValueError(f"the episodes under {data_dir} record {found}: pass --robot PROFILE")


def check_recorded_profile(episode_dirs: list[Path], profile: RobotProfile,
                           allow_mismatch: bool = False) -> None:
    """Refuses episodes recorded for another robot profile (a different hash than
    ``profile``'s), naming both; with ``allow_mismatch`` they are only warned about. A bag
    without a hash cannot be checked: it passes, with a note (``fact_notes``)."""
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


def convert_dataset(data_dir: str | Path | Sequence[str | Path], profile: RobotProfile, *,
                    settings: SyncSettings | None = None, cache_dir: str | Path | None = None,
                    include_failed: bool = False, progress: bool = True,
                    allow_profile_mismatch: bool = False,
                    split: SplitRule | None = None) -> ConversionResult:
    """Every usable episode under ``data_dir`` (one folder or several: each bag, or each segment
    of it by ``split``), converted or loaded from the cache; episodes recorded for another
    profile are refused (see ``check_recorded_profile``)."""
    settings = settings or SyncSettings.for_rate(profile.control_hz)
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    roots = [data_dir] if isinstance(data_dir, (str, Path)) else list(data_dir)
    episode_dirs, left_out = [], {}
    for root in roots:
        chosen, left = select_episodes(root, include_failed)
        episode_dirs += chosen
        left_out.update(left)
    check_recorded_profile(episode_dirs, profile, allow_profile_mismatch)
    result = ConversionResult([], [], left_out)
    for episode_dir in episode_dirs:
        if notes := fact_notes(read_custom_data(episode_dir)):
            result.notes[str(episode_dir)] = notes
            warnings.warn(f"{episode_dir}: {'; '.join(notes)}", ConversionWarning, stacklevel=2)
    for root in roots:
        for unusable, why in find_unusable_dirs(root).items():
            _skip(result, str(unusable), why)
    began = time.perf_counter()
    for episode_dir in tqdm(episode_dirs, desc="converting bags", unit="bag",
                            disable=not progress):
        _add_bag(result, episode_dir, profile, settings, cache, split)
    result.seconds = time.perf_counter() - began
    if not result.episodes:
        raise EpisodeBagError(f"no usable episodes under {', '.join(map(str, roots))} "
                              f"(skipped: {result.skipped})")
    return result


def _add_bag(result: ConversionResult, episode_dir: Path, profile: RobotProfile,
             settings: SyncSettings, cache: Path, split: SplitRule | None) -> None:
    try:
        token = split.cache_token(episode_dir.name) if split else ""
        entry = cache / f"{cache_key(episode_dir, profile, settings, token)}.npz"
        if entry.is_file():
            bag = load_entry(entry)
        else:
            bag = convert_bag(episode_dir, profile, settings, split)
            for message in bag.warnings:
                warnings.warn(message, ConversionWarning, stacklevel=3)
            save_entry(entry, bag)
            result.converted += len(bag.episodes)
            result.bytes_read += sum(p.stat().st_size for p in storage_files(episode_dir))
    except SplitError as exc:  # the rule finds no episode in this bag
        _skip(result, str(episode_dir), f"{episode_dir}: {exc}")
        return
    except Exception as exc:  # one bad bag must not stop the others; it is named and skipped
        _skip(result, str(episode_dir), str(exc) if isinstance(exc, EpisodeBagError) else (
            f"{episode_dir}: {type(exc).__name__}: {exc}"))
        return
    for key, why in bag.skipped.items():
        _skip(result, key, why)
    result.episodes.extend(bag.episodes)
    result.episode_dirs.extend([episode_dir] * len(bag.episodes))


def _skip(result: ConversionResult, key: str, why: str) -> None:
    result.skipped[key] = why
    warnings.warn(f"skipped episode: {why}", ConversionWarning, stacklevel=4)
