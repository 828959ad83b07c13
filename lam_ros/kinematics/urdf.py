"""A profile's robot description as a URDF file: plain URDF as is, xacro expanded.

Robot descriptions usually ship as xacro; the `xacro` package expands them without a ROS
distribution (a `$(find pkg)` inside needs one: ament_index finds the package then).
Kinematics needs links and joints only: ``kinematic_urdf`` also drops visual and collision
geometry, whose ``package://`` meshes cannot be found without the description's package. Files
are cached by content, so a changed description is read again.
"""

from __future__ import annotations

import hashlib
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

from lam_ros.core.profile import resolve_urdf

EXPANDED_DIR = Path(tempfile.gettempdir()) / "lam_ros_urdf"


class UrdfError(ValueError):
    """The robot description cannot be read or expanded; the message names the file."""


def urdf_file(urdf: str) -> str:
    """A URDF path for ``urdf`` (a path, ``pybullet_data:<path>``, or a ``.xacro`` file)."""
    path = Path(resolve_urdf(urdf))
    if not path.is_file():
        raise UrdfError(f"robot description {urdf!r} not found (looked for {path})")
    if path.suffix != ".xacro":
        return str(path)
    return str(expand_xacro(path))


def kinematic_urdf(urdf: str) -> str:
    """``urdf_file(urdf)`` without visual and collision geometry: links and joints only."""
    path = Path(urdf_file(urdf))
    try:
        tree = ET.parse(path)
    except ET.ParseError as exc:
        raise UrdfError(f"{path} is not valid XML: {exc}") from None
    for link in tree.getroot().iter("link"):
        for shape in link.findall("visual") + link.findall("collision"):
            link.remove(shape)
    return str(_cached(path, "kinematic", ET.tostring(tree.getroot(), encoding="unicode")))


def expand_xacro(path: Path) -> Path:
    import xacro

    try:
        document = xacro.process_file(str(path))
    except Exception as exc:  # xacro raises its own types for every kind of bad input
        raise UrdfError(f"cannot expand {path}: {type(exc).__name__}: {exc}") from None
    return _cached(path, "expanded", document.toprettyxml(indent="  "))


def _cached(source: Path, kind: str, text: str) -> Path:
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    target = EXPANDED_DIR / f"{source.stem}.{kind}.{digest}.urdf"
    if not target.is_file():
        EXPANDED_DIR.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(f".{digest}.partial")
        partial.write_text(text)
        partial.replace(target)  # another process may write the same file at the same time
    return target
