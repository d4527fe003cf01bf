"""Regenerate the Gazebo model of the default part from inspection.sim.parts (run from the repo root).

    .venv/bin/python tools/export_gazebo_part.py
"""
from __future__ import annotations

from pathlib import Path

from inspection.geometry.mesh_io import export_dae, export_stl
from inspection.sim.parts import build_part

# The default part of the Gazebo world: a fuselage-panel section, 1 m radius, 0.4 m of arc, 0.5 m long.
DEFAULT_PART = {"kind": "cylinder_panel", "radius_m": 1.0, "arc_length_m": 0.4, "length_m": 0.5}
MESHES = Path(__file__).resolve().parent.parent / "sim" / "models" / "fuselage_panel" / "meshes"


def main() -> None:
    part = build_part(DEFAULT_PART)
    print(export_dae(part, MESHES / "fuselage_panel.dae"))
    print(export_stl(part, MESHES / "fuselage_panel.stl"))


if __name__ == "__main__":
    main()
