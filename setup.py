from glob import glob

from setuptools import find_packages, setup

PACKAGE = "lam_ros"
NODES = ["sim_node", "expert_node", "teleop_node", "recorder_node", "policy_node"]

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml")),
        (f"share/{PACKAGE}/config/robots", glob("config/robots/*.yaml")),
        (f"share/{PACKAGE}/models", glob("models/*.md")),
    ],
    package_data={PACKAGE: ["py.typed"]},
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
