"""Joint bookkeeping by name: messages and bags may list joints in any order."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class MissingJointError(KeyError):
    """A message or bag lacks a joint the robot profile needs."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0])


def reorder_by_name(names: Sequence[str], values: np.ndarray,
                    wanted: Sequence[str]) -> np.ndarray:
    """``values`` (listed in ``names`` order, last axis) rearranged into ``wanted`` order."""
    index = {n: i for i, n in enumerate(names)}
    missing = [n for n in wanted if n not in index]
    if missing:
        raise MissingJointError(f"joint(s) {missing} missing; message has {list(names)}")
    if values.shape[-1] != len(names):
        raise ValueError(f"{len(names)} joint names but {values.shape[-1]} values")
    return values[..., [index[n] for n in wanted]]
