"""Where the package's config/ and models/ live, from a source checkout or an installed share/."""

from __future__ import annotations

import sys
from pathlib import Path

PACKAGE = "lam_ros"


def share_dir() -> Path:
    """The folder holding config/, launch/ and models/.

    A source checkout (and an editable install) uses the repository root; a colcon or pip install
    uses <prefix>/share/lam_ros.
    """
    repo_root = Path(__file__).resolve().parents[2]
    if (repo_root / "config" / "robots").is_dir():
        return repo_root
    installed = Path(sys.prefix) / "share" / PACKAGE
    if installed.is_dir():
        return installed
    raise FileNotFoundError(
        f"cannot find lam_ros config: neither {repo_root}/config nor {installed} exists"
    )


def config_dir() -> Path:
    return share_dir() / "config"


def robots_dir() -> Path:
    return config_dir() / "robots"
