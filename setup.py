from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "lam_ros"
NODES = ["sim_node", "expert_node", "operator_node", "teleop_node", "recorder_node",
         "policy_node"]


def share_tree(folder: str) -> list[tuple[str, list[str]]]:
    """data_files entries installing ``folder`` (recursively) under share/lam_ros."""
    dirs = sorted({p.parent for p in Path(folder).rglob("*") if p.is_file()})
    return [(f"share/{PACKAGE}/{d}", sorted(str(p) for p in d.iterdir() if p.is_file()))
            for d in dirs if "__pycache__" not in d.parts]


setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        *share_tree("launch"),
        *share_tree("config"),
        *share_tree("models"),
    ],
    package_data={PACKAGE: ["py.typed", "data/*.json"]},
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="lam_ros developers",
    maintainer_email="dev@lam-ros.invalid",
    description="Imitation learning for ROS 2: demonstrations to a safe real-time ONNX policy.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [f"{n}={PACKAGE}.nodes.{n}:main" for n in NODES]
        + [f"lam-ros={PACKAGE}.cli:main", f"train={PACKAGE}.cli:train_main"],
    },
)
