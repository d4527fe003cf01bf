"""Process environment that every entry point sets first, so nothing reaches for the network and
large images survive DDS.

- Ultralytics: ``YOLO_OFFLINE=1`` and a project-local ``YOLO_CONFIG_DIR`` that already holds a
  font, otherwise it tries to download settings and Arial.ttf.
- Fast DDS: ``FASTDDS_DEFAULT_PROFILES_FILE`` points at config/fastdds.xml unless the user set one.
- RMW: Fast DDS, the implementation the profile is written for, unless the user chose another.
"""
from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

from inspection import paths


def _font_source() -> Path | None:
    """Any TrueType font on the machine will do for Ultralytics' plots; matplotlib ships DejaVu Sans."""
    try:
        import matplotlib

        candidate = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
        if candidate.is_file():
            return candidate
    except ImportError:
        pass
    for folder in (Path("/usr/share/fonts"), Path("/usr/local/share/fonts")):
        if folder.is_dir():
            for font in sorted(folder.rglob("*.ttf")):
                return font
    return None


def ultralytics_config_dir() -> Path:
    """Create the offline Ultralytics settings folder with its font; returns the folder."""
    config_dir = paths.state_dir() / "ultralytics"
    font_target = config_dir / "Ultralytics" / "Arial.ttf"
    if not font_target.is_file():
        source = _font_source()
        if source is not None:
            font_target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, font_target)
    return config_dir


def configure_environment() -> dict[str, str]:
    """Set the offline and DDS variables (without overriding the user's); returns what is in force."""
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ.setdefault("YOLO_CONFIG_DIR", str(ultralytics_config_dir()))
    os.environ.setdefault("YOLO_VERBOSE", "False")
    profile = paths.config_file("fastdds.xml")
    if profile.is_file():
        os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(profile))
    os.environ.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
    keys = ("YOLO_OFFLINE", "YOLO_CONFIG_DIR", "FASTDDS_DEFAULT_PROFILES_FILE", "RMW_IMPLEMENTATION")
    return {k: os.environ[k] for k in keys if k in os.environ}


PRIVATE_DOMAIN_IDS = range(1, 102)


def private_domain_id(share: int = 0, shares: int = 1) -> str:
    """A random ROS_DOMAIN_ID for a run that should keep to itself (tests, demo, benchmarks).

    Only 1..101: above 101 the RTPS ports (7400 + 250 * domain + ...) fall in Linux's ephemeral range
    (32768+), where another socket can hold them and Fast DDS moves silently out of discovery's reach.
    ``shares`` runs at once on one host (parallel test workers) each draw from their own ``share`` of the
    domains, so two of them never meet on one."""
    return str(random.choice([d for d in PRIVATE_DOMAIN_IDS if d % shares == share % shares]))
