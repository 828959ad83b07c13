"""Where config/, launch/ and models/ live: a source checkout or an installed share/."""

from __future__ import annotations

import os
import sys
from pathlib import Path

PACKAGE = "lam_ros"


def _candidates() -> list[Path]:
    # A source checkout (and an editable install) uses the repository root.
    found = [Path(__file__).resolve().parents[2]]
    # A colcon install is listed in the ament index.
    for prefix in filter(None, os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep)):
        found.append(Path(prefix) / "share" / PACKAGE)
    # A plain pip install puts data_files under the interpreter prefix.
    found.append(Path(sys.prefix) / "share" / PACKAGE)
    return found


def share_dir() -> Path:
    """The folder holding config/, launch/ and models/."""
    candidates = _candidates()
    for candidate in candidates:
        if (candidate / "config" / "robots").is_dir():
            return candidate
    raise FileNotFoundError(
        f"cannot find lam_ros config/robots in any of {[str(c) for c in candidates]}")


def config_dir() -> Path:
    return share_dir() / "config"


def robots_dir() -> Path:
    return config_dir() / "robots"


def models_dir() -> Path:
    return share_dir() / "models"
