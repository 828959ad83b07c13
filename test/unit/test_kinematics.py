"""Kinematics from a profile's robot description, URDF or xacro, without the simulator package."""

import ast
from pathlib import Path

import numpy as np
import pytest
import yaml

from lam_ros.core.paths import robots_dir
from lam_ros.core.profile import load_profile, resolve_urdf
from lam_ros.kinematics import Kinematics, UrdfError, urdf_file

PACKAGE = Path(__file__).resolve().parents[2] / "lam_ros"


def xacro_profile(tmp_path, body: str):
    """panda_sim whose description is a xacro file holding ``body``."""
    panda = resolve_urdf(load_profile("panda_sim").urdf)
    source = tmp_path / "panda_arm.urdf.xacro"
    source.write_text(f'<robot xmlns:xacro="http://www.ros.org/wiki/xacro" name="panda">\n'
                      f'  <xacro:property name="description" value="{panda}"/>\n'
                      f'{body}\n</robot>\n')
    data = yaml.safe_load((robots_dir() / "panda_sim.yaml").read_text())
    data["urdf"] = str(source)
    path = tmp_path / "panda_xacro.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_profile(path)


def test_a_xacro_description_gives_the_same_kinematics_as_its_urdf(tmp_path, profile):
    via_xacro = xacro_profile(tmp_path, '  <xacro:include filename="${description}"/>')
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
    with pytest.raises(UrdfError, match="panda_arm.urdf.xacro"):
        urdf_file(broken.urdf)


def test_kinematics_never_imports_the_simulator_package():
    for path in (PACKAGE / "kinematics").rglob("*.py"):
        tree = ast.parse(path.read_text())
        modules = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        assert not [m for m in modules if m.startswith("lam_ros.sim")], path
