#!/usr/bin/env bash
# Make .venv/ with the pinned requirements, once per requirements hash; idempotent.
# Usage: tools/bootstrap.sh [wheels|cell]   (wheels: ROS 2 from PyPI wheels; cell: the distro's ROS 2)
set -euo pipefail
cd "$(dirname "$0")/.."
flavour="${1:-wheels}"
venv=.venv
reqs=(requirements/dev.txt requirements/ray.txt)  # Ray: optional for users, but the tests run the campaign on it
if [[ "$flavour" == wheels ]]; then reqs+=(requirements/core.txt requirements/ros-wheels.txt); else reqs+=(requirements/cell.txt); fi
hash=$(cat "${reqs[@]}" setup.py | sha256sum | cut -c1-16)
stamp="$venv/.installed-$flavour-$hash"

# Debian packages: open3d needs libusb-1.0.
missing=()
ldconfig -p 2>/dev/null | grep -q 'libusb-1.0.so.0' || missing+=(libusb-1.0-0)
if ((${#missing[@]})); then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    echo "bootstrap: installing Debian packages: ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "bootstrap: missing Debian packages; run: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

if [[ -f "$stamp" ]]; then exit 0; fi

# torch 2.14.1 ships for CPython 3.11 here; prefer it when several Pythons exist.
python=$(command -v python3.11 || command -v python3)
start=$(date +%s)
if [[ "$flavour" == cell ]]; then
  # On the cell the venv must see the distro's rclpy (source /opt/ros/<distro>/setup.bash first).
  [[ -d "$venv" ]] || "$python" -m venv --system-site-packages "$venv"
else
  [[ -d "$venv" ]] || "$python" -m venv "$venv"
fi
echo "bootstrap: installing ${reqs[*]} into $venv (one-off; later runs skip this)"
log="$venv/install.log"
if ! { "$venv/bin/pip" install -q --disable-pip-version-check "${reqs[@]/#/-r}" &&
       "$venv/bin/pip" install -q --disable-pip-version-check --no-deps --no-build-isolation -e .; } >"$log" 2>&1; then
  grep -v 'is ignored: it is neither' "$log" >&2   # the local mirrors' noise hides the real error
  echo "bootstrap: pip install failed (full log: $log)" >&2
  exit 1
fi
rm -f "$venv"/.installed-*
touch "$stamp"
echo "bootstrap: done in $(( $(date +%s) - start )) s; venv size $(du -sh "$venv" | cut -f1)"
