"""metadata.yaml: written so that its presence means an intact episode, and checked when read.

A file is published by writing a temporary file, fsyncing it and renaming it into place (then
fsyncing the folder), so a kill, a full disk or a power cut leaves either no file or a complete
one. ``read_metadata`` still checks what it reads (it parses, has the fields the readers use,
and the storage files it lists exist), since a bag may come from elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePath

import yaml

METADATA = "metadata.yaml"
# Field -> type the readers (rosbags, bag info, conversion) rely on.
REQUIRED_FIELDS = {"version": int, "storage_identifier": str, "relative_file_paths": list,
                   "duration": dict, "starting_time": dict, "message_count": int,
                   "topics_with_message_count": list}
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's is 8x faster


class BagError(RuntimeError):
    """An episode bag cannot be written or read; the message names the bag and the cause."""


def replace_durably(source: Path, target: Path) -> None:
    """Renames ``source`` over ``target`` once its bytes are on disk, then syncs the folder."""
    fsync_path(source)
    os.replace(source, target)
    fsync_path(target.parent)


def write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    replace_durably(tmp, path)


def fsync_path(path: Path) -> None:
    """Waits until the file's (or folder's) contents are on disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_metadata(episode_dir: Path) -> dict:
    """The bag's ``rosbag2_bagfile_information``; BagError saying what is wrong with it."""
    path = episode_dir / METADATA
    try:
        document = yaml.load(path.read_text(), Loader=SAFE_LOADER)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise BagError(f"{path} is unreadable: {str(exc).splitlines()[0]}") from None
    info = document.get("rosbag2_bagfile_information") if isinstance(document, dict) else None
    if not isinstance(info, dict):
        raise BagError(f"{path} has no rosbag2_bagfile_information mapping (truncated?)")
    bad = [key for key, kind in REQUIRED_FIELDS.items() if not isinstance(info.get(key), kind)]
    if not isinstance(info.get("custom_data") or {}, dict):
        bad.append("custom_data")
    if bad:
        raise BagError(f"{path} lacks or has malformed {bad} (truncated?)")
    listed = [PurePath(str(name)).name for name in info["relative_file_paths"]]
    missing = [name for name in listed if not (episode_dir / name).is_file()]
    if not listed or missing:
        raise BagError(f"{path} lists storage files {listed}; missing: {missing}")
    return info
