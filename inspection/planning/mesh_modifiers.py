"""Mesh modifiers: make the triangle winding agree so that interpolated normals point out of the part."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inspection.geometry.surface import PartSurface


@dataclass(frozen=True)
class OrientNormalsModifier:
    """Consistent, outward winding.

    A closed mesh is made to enclose positive volume (outward normals); its average normal is zero,
    so it gives no hint of "up". An open sheet (a panel) has no inside, so its side facing the part
    frame's +z (out of the top surface, see cell.yaml) is taken as outward.
    """

    def modify(self, surface: PartSurface) -> list[PartSurface]:
        import trimesh

        mesh = trimesh.Trimesh(surface.vertices, surface.triangles, process=False)
        trimesh.repair.fix_winding(mesh)
        if mesh.is_watertight:
            if mesh.volume < 0:
                mesh.invert()
        else:
            weighted = (mesh.face_normals * mesh.area_faces[:, None]).sum(axis=0)
            if weighted[2] < 0:
                mesh.invert()
        return [PartSurface.from_arrays(np.asarray(mesh.vertices), np.asarray(mesh.faces), surface.name)]
