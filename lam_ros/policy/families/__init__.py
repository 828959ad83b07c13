"""Policy families behind one ONNX contract, by the name `lam-ros train --policy NAME` takes.

Each family's module holds its model and its frozen config dataclass; base.py holds the seam
they share. Adding a family: a ``PolicyModel`` subclass, registered in ``FAMILIES``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lam_ros.policy.families.act import ActPolicy
from lam_ros.policy.families.base import FeatureShapes, PolicyModel
from lam_ros.policy.families.conv import ConvPolicy
from lam_ros.policy.families.flow import FlowPolicy

FAMILIES: dict[str, type[PolicyModel]] = {cls.kind: cls for cls in
                                          (ConvPolicy, ActPolicy, FlowPolicy)}
DEFAULT_FAMILY = ConvPolicy.kind


def family(name: str) -> type[PolicyModel]:
    """The family registered as ``name``; ValueError lists the known ones."""
    if name not in FAMILIES:
        raise ValueError(f"unknown policy {name!r}; known: {', '.join(FAMILIES)}")
    return FAMILIES[name]


def build_policy(name: str, shapes: FeatureShapes, options: Mapping[str, Any]) -> PolicyModel:
    """A freshly initialized ``name`` policy (torch's global RNG draws the weights)."""
    cls = family(name)
    return cls(shapes, cls.make_config(options))
