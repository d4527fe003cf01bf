"""Launch files: loaded with launch_ros where it exists (the cell); here it does not, so they skip."""
from __future__ import annotations

import importlib.util
import py_compile
from pathlib import Path

import pytest

LAUNCH_FILES = sorted((Path(__file__).resolve().parent.parent / "launch").glob("*.launch.py"))


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_compiles(path: Path) -> None:
    py_compile.compile(str(path), doraise=True)


@pytest.mark.skipif(importlib.util.find_spec("launch_ros") is None,
                    reason="launch_ros is not installable from PyPI; these load on a machine with ROS 2 installed")
@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_builds_a_description(path: Path) -> None:
    from launch.launch_description_sources import PythonLaunchDescriptionSource

    description = PythonLaunchDescriptionSource(str(path)).get_launch_description(None)
    assert description.entities
