"""`colcon build` installs the ament_python layout `ros2 run` and `ros2 launch` rely on."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COLCON = Path(sys.executable).with_name("colcon")
NODES = ["sim_node", "expert_node", "operator_node", "teleop_node", "recorder_node",
         "policy_node"]


def _source_files():
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                         check=True, capture_output=True, text=True).stdout
    return [p for p in out.splitlines() if (ROOT / p).is_file()]


@pytest.fixture(scope="module")
def install_dir(tmp_path_factory):
    if not COLCON.exists():
        pytest.fail(f"colcon not installed beside {sys.executable}; run scripts/setup")
    ws = tmp_path_factory.mktemp("ws")
    for rel in _source_files():
        dst = ws / "src" / "lam_ros" / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, dst)
    result = subprocess.run([str(COLCON), "build", "--base-paths", "src"], cwd=ws,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return ws / "install" / "lam_ros"


def test_installs_node_executables_where_ros2_run_finds_them(install_dir):
    lib = install_dir / "lib" / "lam_ros"
    for exe in [*NODES, "train", "lam-ros"]:
        assert os.access(lib / exe, os.X_OK), f"missing executable lib/lam_ros/{exe}"


def test_installs_share_files(install_dir):
    share = install_dir / "share" / "lam_ros"
    assert (install_dir / "share/ament_index/resource_index/packages/lam_ros").is_file()
    assert (share / "package.xml").is_file()
    assert {p.name for p in (share / "launch").glob("*.launch.py")} >= {
        "sim.launch.py", "record.launch.py", "policy.launch.py"}
    assert (share / "config/robots/panda_sim.yaml").is_file()


def test_installed_package_finds_its_config_through_the_ament_index(install_dir, tmp_path):
    site = next((install_dir / "lib").glob("python3*/site-packages"))
    env = {**os.environ, "AMENT_PREFIX_PATH": str(install_dir), "PYTHONPATH": str(site)}
    code = ("import lam_ros, lam_ros.core.paths as p, lam_ros.core.profile as r;"
            "print(lam_ros.__file__); print(p.share_dir());"
            "print(r.load_profile('panda_sim').name)")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, check=True,
                         capture_output=True, text=True).stdout.splitlines()
    assert out[0].startswith(str(site))
    assert out[1] == str(install_dir / "share" / "lam_ros")
    assert out[2] == "panda_sim"
