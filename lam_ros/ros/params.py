"""Node parameters declared from one frozen config dataclass (the single source of defaults).

Every field becomes a parameter with a descriptor; values set at run time are validated by
building a new config (its ``__post_init__`` names the bad value) and rejected if that fails.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.node import Node

C = TypeVar("C")


def _ros_default(value: Any) -> Any:
    # Parameters cannot be tuples of mixed types or None; tuples become lists.
    return list(value) if isinstance(value, tuple) else value


def declare_config(node: Node, config_cls: type[C],
                   on_change: Callable[[C], None] | None = None,
                   mutable: tuple[str, ...] = ()) -> C:
    """Declares one parameter per dataclass field and returns the validated config.

    Parameters named in ``mutable`` may change at run time: updates are validated and passed to
    ``on_change`` as a new config. All others are read-only after start, so `ros2 param set`
    refuses them instead of reporting a change the node would never apply.
    """
    fields = [f for f in dataclasses.fields(config_cls) if f.init]
    unknown = set(mutable) - {f.name for f in fields}
    if unknown or (mutable and on_change is None):
        raise ValueError(f"mutable parameters {sorted(unknown) or list(mutable)} need fields of "
                         f"{config_cls.__name__} and an on_change callback")
    defaults = config_cls()
    for f in fields:
        node.declare_parameter(
            f.name,
            _ros_default(getattr(defaults, f.name)),
            ParameterDescriptor(description=f.metadata.get("help", f.name),
                                read_only=f.name not in mutable),
        )
    config = _read(node, config_cls, {})

    def validate(params: list) -> SetParametersResult:
        overrides = {p.name: p.value for p in params if p.name in config_cls.__dataclass_fields__}
        try:
            new_config = _read(node, config_cls, overrides)
        except (ValueError, TypeError) as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        if on_change is not None:
            on_change(new_config)
        return SetParametersResult(successful=True)

    node.add_on_set_parameters_callback(validate)
    return config


def _read(node: Node, config_cls: type[C], overrides: dict[str, Any]) -> C:
    values = {}
    for f in dataclasses.fields(config_cls):
        if not f.init:
            continue
        value = overrides.get(f.name, node.get_parameter(f.name).value)
        if isinstance(getattr(config_cls(), f.name), tuple):
            value = tuple(value)
        values[f.name] = value
    return config_cls(**values)
