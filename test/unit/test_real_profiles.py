"""The shipped robot profiles: every one loads; the real-arm examples say where they come from."""

from itertools import takewhile

import pytest

from lam_ros.core.paths import robots_dir
from lam_ros.core.profile import load_profile

PATHS = sorted(robots_dir().glob("*.yaml"))
# Real-arm examples: the driver repositories their header comment must name, and their arm's DOF.
REAL = {
    "ur5e_robotiq": (("Universal_Robots_ROS2_Driver", "ros2_robotiq_gripper"), 6),
    "xarm6": (("xarm_ros2",), 6),
    "fr3": (("franka_ros2",), 7),
    "so101": (("so101_ros2",), 5),
}


def header(path) -> str:
    """The comment block the file opens with."""
    return "\n".join(takewhile(lambda line: line.startswith("#"), path.read_text().splitlines()))


def test_the_real_arm_examples_are_shipped():
    assert set(REAL) <= {p.stem for p in PATHS}


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_every_profile_loads_and_is_consistent(path):
    profile = load_profile(path)
    assert profile.name == path.stem  # load_profile(name) finds it by its file name
    for joint, value in zip(profile.joints, profile.home, strict=True):
        assert joint.lower <= value <= joint.upper, joint.name
    limits = {j.name: (j.lower, j.upper) for j in profile.joints}
    for group in profile.grippers:
        lower, upper = limits[group.joints[0]]
        assert lower <= group.gripper.open <= upper and lower <= group.gripper.closed <= upper
    grouped = [name for group in profile.command_groups for name in group.joints]
    assert sorted(grouped) == sorted(profile.joint_names)


@pytest.mark.parametrize("name", sorted(REAL))
def test_a_real_arm_example_names_its_driver_and_has_its_arm_and_gripper(name):
    path = robots_dir() / f"{name}.yaml"
    drivers, dof = REAL[name]
    text = header(path)
    assert "Driver:" in text
    for driver in drivers:
        assert driver in text, f"{path.name} header does not name {driver}"
    profile = load_profile(path)
    assert len(profile.arm_joints) == dof
    assert len(profile.grippers) == 1
    assert profile.end_effector_link and profile.urdf
