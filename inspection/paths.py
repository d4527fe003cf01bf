"""Where the package's shared files (config/, models/, launch/, sim/) and its writable state live."""
from __future__ import annotations

import os
import sys
from pathlib import Path

PACKAGE = "inspection"
_CHECKOUT_ROOT = Path(__file__).resolve().parent.parent


def share_dir() -> Path:
    """The folder holding config/, models/, launch/ and sim/.

    Order: $INSPECTION_SHARE; a source checkout (package.xml beside the package); a pip or colcon
    install prefix (share/inspection); the ament index when the package is installed elsewhere.
    """
    override = os.environ.get("INSPECTION_SHARE")
    if override:
        return Path(override)
    if (_CHECKOUT_ROOT / "package.xml").is_file() and (_CHECKOUT_ROOT / "config").is_dir():
        return _CHECKOUT_ROOT
    prefixed = Path(sys.prefix) / "share" / PACKAGE
    if prefixed.is_dir():
        return prefixed
    try:
        from ament_index_python.packages import get_package_share_directory

        return Path(get_package_share_directory(PACKAGE))
    except (ImportError, LookupError) as exc:
        raise FileNotFoundError(
            f"cannot find the share folder of '{PACKAGE}' (config/, models/); set INSPECTION_SHARE"
        ) from exc


def config_file(name: str) -> Path:
    return share_dir() / "config" / name


def model_file(name: str) -> Path:
    return share_dir() / "models" / name


def state_dir() -> Path:
    """Writable folder for caches (Ultralytics settings, fonts): $INSPECTION_HOME, else beside a
    checkout, else ~/.cache/inspection."""
    override = os.environ.get("INSPECTION_HOME")
    if override:
        path = Path(override)
    elif (_CHECKOUT_ROOT / "package.xml").is_file() and os.access(_CHECKOUT_ROOT, os.W_OK):
        path = _CHECKOUT_ROOT / ".inspection"
    else:
        path = Path.home() / ".cache" / PACKAGE
    path.mkdir(parents=True, exist_ok=True)
    return path
