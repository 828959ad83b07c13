"""The layering rules (docs/design.md, Layers): pure layers never import rclpy; every
subscription goes through MessageGuard."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "lam_ros"
PURE_LAYERS = ["core", "data", "policy", "sim", "kinematics"]


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


ROS_MODULES = {"rclpy", "sensor_msgs", "std_msgs", "std_srvs", "trajectory_msgs",
               "rosgraph_msgs", "diagnostic_msgs", "builtin_interfaces", "rcl_interfaces",
               "geometry_msgs", "launch", "launch_ros"}


@pytest.mark.parametrize("layer", PURE_LAYERS)
def test_pure_layer_does_not_import_ros(layer):
    files = sorted((PACKAGE / layer).rglob("*.py"))
    assert files, f"layer {layer} has no modules"
    offenders = {str(f.relative_to(PACKAGE)): sorted(_imported_modules(f) & ROS_MODULES)
                 for f in files if _imported_modules(f) & ROS_MODULES}
    assert offenders == {}


def test_every_subscription_is_guarded():
    """A message of the right type must never kill a node: subscriptions are made only through
    MessageGuard (lam_ros/ros/guard.py), which turns a raising callback into a counted warning."""
    offenders = [str(f.relative_to(PACKAGE)) for f in sorted(PACKAGE.rglob("*.py"))
                 if f.name != "guard.py" and "create_subscription(" in f.read_text()]
    assert offenders == []
