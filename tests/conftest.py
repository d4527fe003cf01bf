"""Shared fixtures: ROS 2 isolation (random domain, localhost discovery) for tests that use DDS."""
from __future__ import annotations

import os
import random
import subprocess
import sys

import pytest

from inspection import runtime


@pytest.fixture()
def ros_env() -> dict[str, str]:
    """Environment for child processes that talk DDS: a random domain, localhost only, our profile."""
    env = dict(os.environ)
    env.update(runtime.configure_environment())
    env["ROS_DOMAIN_ID"] = str(random.randint(1, 200))
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_cli(*args: str, timeout: float = 120, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run the real `inspection` CLI in a subprocess, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "inspection.cli.main", *args],
        capture_output=True, text=True, timeout=timeout, env=env,
    )
