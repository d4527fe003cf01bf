"""Find the robot's URDF named in cell.yaml: a path, or a robot that example-robot-data ships offline."""
from __future__ import annotations

import sys
from pathlib import Path

from inspection import paths
from inspection.errors import InputError

EXAMPLE_ROBOT_DATA = "example-robot-data:"


def example_robot_data_root() -> Path:
    """The `robots/` folder of the example-robot-data wheel (installed under cmeel.prefix)."""
    for entry in sys.path:
        candidate = Path(entry) / "cmeel.prefix" / "share" / "example-robot-data" / "robots"
        if candidate.is_dir():
            return candidate
    raise InputError("example-robot-data is not installed (pip install example-robot-data)")


def resolve_urdf(reference: str) -> Path:
    """Path of the URDF that ``reference`` names; relative paths are taken from the share folder."""
    if reference.startswith(EXAMPLE_ROBOT_DATA):
        path = example_robot_data_root() / reference[len(EXAMPLE_ROBOT_DATA):]
    else:
        path = Path(reference)
        if not path.is_absolute():
            path = paths.share_dir() / path
    if not path.is_file():
        raise InputError(f"robot.urdf: {path} does not exist")
    return path


def package_dirs(urdf: Path) -> list[str]:
    """Folders that resolve `package://` mesh URIs of ``urdf`` (for pinocchio's loaders)."""
    dirs = [str(urdf.parent.parent), str(urdf.parent.parent.parent)]
    try:
        root = example_robot_data_root()
        dirs.append(str(root.parent.parent))  # package://example-robot-data/robots/...
    except InputError:
        pass
    return dirs
