"""Kinematics from a profile's robot description, URDF or xacro, without the simulator package."""

import ast
from pathlib import Path

import numpy as np
import pytest
import yaml

from lam_ros.core.paths import robots_dir
from lam_ros.core.profile import load_profile, profile_from_dict, resolve_urdf
from lam_ros.core.teleop import CARTESIAN, Intent, Jogger, rotate_about_z
from lam_ros.kinematics import Kinematics, UrdfError, urdf_file

PACKAGE = Path(__file__).resolve().parents[2] / "lam_ros"
DATA = Path(__file__).resolve().parents[1] / "data"
FIVE_DOF_LIMITS = {"shoulder_pan": (-1.91986, 1.91986), "shoulder_lift": (-1.74533, 1.74533),
                   "elbow_flex": (-1.69, 1.69), "wrist_flex": (-1.65806, 1.65806),
                   "wrist_roll": (-2.74385, 2.84121), "gripper": (-0.174533, 1.74533)}
POINTING_DOWN = [0.3, -0.5, 0.9, np.pi / 2 - 0.4, 0.2, 0.0]  # pitches sum to pi/2: tool down
TILTED = [0.3, -0.3, 0.8, 0.6, 0.2, 0.0]


def angle(a: np.ndarray, b: np.ndarray) -> float:
    """Rotation (rad) between two (x, y, z, w) quaternions."""
    return 2 * float(np.arccos(min(1.0, abs(float(np.dot(a, b))))))


@pytest.fixture(scope="module")
def five_dof():
    """An SO-101-like arm: 5 joints and a gripper jaw (test/data/five_dof_arm.urdf)."""
    arm = list(FIVE_DOF_LIMITS)[:5]
    return profile_from_dict({
        "name": "five_dof", "urdf": str(DATA / "five_dof_arm.urdf"),
        "end_effector_link": "gripper_frame_link", "control_hz": 10.0, "home": POINTING_DOWN,
        "joints": [{"name": n, "lower": lo, "upper": hi, "max_velocity": 2.0}
                   for n, (lo, hi) in FIVE_DOF_LIMITS.items()],
        "command_groups": [
            {"name": "arm", "joints": arm, "interface": "joint_trajectory", "topic": "/arm"},
            {"name": "gripper", "joints": ["gripper"], "interface": "float64", "topic": "/grip",
             "gripper": {"open": 1.74533, "closed": 0.0}}]})


def xacro_profile(tmp_path, body: str, name: str = "panda_sim"):
    """Profile ``name`` whose description is a xacro file holding ``body``."""
    description = resolve_urdf(load_profile(name).urdf)
    source = tmp_path / "arm.urdf.xacro"
    source.write_text(f'<robot xmlns:xacro="http://www.ros.org/wiki/xacro" name="arm">\n'
                      f'  <xacro:property name="description" value="{description}"/>\n'
                      f'{body}\n</robot>\n')
    data = yaml.safe_load((robots_dir() / f"{name}.yaml").read_text())
    data["urdf"] = str(source)
    path = tmp_path / "arm_xacro.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_profile(path)


def test_a_xacro_description_gives_the_same_kinematics_as_its_urdf(tmp_path, profile):
    via_xacro = xacro_profile(tmp_path, '  <xacro:include filename="${description}"/>',
                              profile.name)
    plain, expanded = Kinematics(profile), Kinematics(via_xacro)
    q = np.array(profile.home) + 0.1
    for a, b in zip(plain.forward(q), expanded.forward(q), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-9)
    position, orientation = plain.forward(q)
    target = position + [0.0, 0.0, 0.005]  # one teleop jog step up
    solution = expanded.inverse(target, orientation, q)
    np.testing.assert_allclose(solution, plain.inverse(target, orientation, q), atol=1e-9)
    reached, reached_orientation = plain.forward(solution)
    np.testing.assert_allclose(reached, target, atol=1e-5)
    assert abs(abs(float(np.dot(reached_orientation, orientation))) - 1.0) < 1e-8
    assert urdf_file(via_xacro.urdf).endswith(".urdf")


def test_a_broken_xacro_is_refused_naming_the_file(tmp_path):
    broken = xacro_profile(tmp_path, '  <xacro:include filename="${no_such_property}"/>')
    with pytest.raises(UrdfError, match="arm.urdf.xacro"):
        urdf_file(broken.urdf)


def test_kinematics_never_imports_the_simulator_package():
    for path in (PACKAGE / "kinematics").rglob("*.py"):
        tree = ast.parse(path.read_text())
        modules = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        assert not [m for m in modules if m.startswith("lam_ros.sim")], path


@pytest.mark.parametrize("start", [POINTING_DOWN, TILTED], ids=["pointing_down", "tilted"])
def test_a_5_dof_arm_jogs_5_mm_steps_in_x_y_z_to_within_1_mm(five_dof, start):
    kinematics = Kinematics(five_dof)
    jogger = Jogger(five_dof, kinematics)
    for axis in range(3):
        for sign in (1.0, -1.0):
            jogger.engage(np.array(start))
            goal, orientation = kinematics.forward(np.array(start))
            for _ in range(4):  # four 5 mm steps, each from the last command, as teleop does
                velocity = np.zeros(4)
                velocity[axis] = sign * 0.05
                target = jogger.step(Intent(True, "", CARTESIAN, velocity), dt=0.1)
                jogger.commit(target)
                goal[axis] += sign * 0.005
                reached, reached_orientation = kinematics.forward(target)
                assert np.linalg.norm(reached - goal) < 1e-3, (axis, sign, reached - goal)
                # Orientation as close as the arm allows: a 5 mm move tilts the tool slightly.
                assert angle(reached_orientation, orientation) < np.radians(3)
            assert target[5] == start[5]  # the gripper keeps its seed


def test_a_5_dof_arm_reaches_a_reachable_pose_and_yaws_by_its_wrist_roll(five_dof):
    kinematics = Kinematics(five_dof)
    seed = np.array(POINTING_DOWN)
    other = seed + [0.15, -0.1, 0.1, 0.1, -0.3, 0.0]
    position, orientation = kinematics.forward(other)
    reached, reached_orientation = kinematics.forward(kinematics.inverse(position, orientation,
                                                                         seed))
    np.testing.assert_allclose(reached, position, atol=1e-6)
    assert angle(reached_orientation, orientation) < 1e-5
    # Pointing down, a yaw about the world z axis is a wrist roll: met exactly, position held.
    position, orientation = kinematics.forward(seed)
    yawed = rotate_about_z(orientation, 0.08)
    solution = kinematics.inverse(position, yawed, seed)
    reached, reached_orientation = kinematics.forward(solution)
    np.testing.assert_allclose(reached, position, atol=1e-6)
    assert angle(reached_orientation, yawed) < 1e-5
    assert abs(solution[4] - seed[4]) > 0.05  # the wrist rolled


def test_a_6_dof_or_more_arm_reaches_a_full_pose_exactly(profile):
    kinematics = Kinematics(profile)
    seed = np.array(profile.home)
    position, orientation = kinematics.forward(seed + 0.1)
    reached, reached_orientation = kinematics.forward(kinematics.inverse(position, orientation,
                                                                         seed))
    np.testing.assert_allclose(reached, position, atol=1e-6)
    assert angle(reached_orientation, orientation) < 1e-6
