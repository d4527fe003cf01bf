"""ament_python package `inspection`; also installable with plain `pip install`."""
from __future__ import annotations

import os
from setuptools import find_packages, setup

PACKAGE = "inspection"
# Folders installed under share/inspection, recursively (launch files, parameters, models, Gazebo assets).
SHARED_TREES = ("launch", "config", "models", "sim")

# One console script per node (run by `ros2 run inspection <name>` on the cell) plus the CLI.
# tests/test_package.py checks that every module in inspection/nodes/ has its entry here.
NODE_ENTRY_POINTS = {
    "image_probe_node": "inspection.nodes.image_probe_node:main",
    "planner_node": "inspection.nodes.planner_node:main",
    "sim_node": "inspection.nodes.sim_node:main",
    "vision_node": "inspection.nodes.vision_node:main",
    "tactile_node": "inspection.nodes.tactile_node:main",
    "coordinator_node": "inspection.nodes.coordinator_node:main",
    "recorder_node": "inspection.nodes.recorder_node:main",
}


def pinned_requirements(name: str) -> list[str]:
    """The pins of requirements/<name>.txt, so that an extra and `make` install the same versions."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "requirements", f"{name}.txt")
    with open(path, encoding="utf-8") as handle:
        return [line.strip() for line in handle if line.strip() and not line.startswith(("#", "-"))]


def shared_data_files() -> list[tuple[str, list[str]]]:
    """Map each file under SHARED_TREES to share/inspection/<same relative folder>."""
    entries: dict[str, list[str]] = {}
    for tree in SHARED_TREES:
        for folder, _dirs, files in os.walk(tree):
            kept = [os.path.join(folder, f) for f in sorted(files) if not f.startswith(".")]
            if kept:
                entries.setdefault(os.path.join("share", PACKAGE, folder), []).extend(kept)
    return sorted(entries.items())


setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["tests", "tests.*"]),
    include_package_data=True,
    package_data={PACKAGE: ["py.typed", "vision/model_configs/*.yaml"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        *shared_data_files(),
    ],
    install_requires=["setuptools"],
    extras_require={"ray": pinned_requirements("ray")},  # `pip install .[ray]`: the campaign's Ray executor
    zip_safe=False,
    maintainer="Inspection engineering",
    maintainer_email="engineering@inspection.example",
    description="Two-stage visual-tactile defect inspection of large curved parts (ROS 2).",
    license="Apache-2.0",
    python_requires=">=3.10",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [f"{PACKAGE} = {PACKAGE}.cli.main:main", *(f"{name} = {target}" for name, target in NODE_ENTRY_POINTS.items())],
    },
)
