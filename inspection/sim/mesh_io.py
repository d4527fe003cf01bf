"""Load a customer's part mesh (STL/OBJ/PLY) as a ``Part``, and export parts for Gazebo (STL, Collada).

CAD exports are usually in millimetres; a part read as metres would be a 500 m panel and every
downstream distance would be silently wrong, so an extent over 20 is refused unless ``units="mm"``.
"""
from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

from inspection.atomic import write_bytes_atomic, write_text_atomic
from inspection.errors import InputError
from inspection.sim.parts import Part

MESH_SUFFIXES = (".stl", ".obj", ".ply")
_MAX_METRES_EXTENT = 20.0


def read_mesh_arrays(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Vertices and triangles of an STL/OBJ/PLY file, the one reader every stage uses.

    Read unprocessed, so NaN vertices are reported instead of silently dropped with their triangles,
    then duplicate vertices are merged (STL repeats them per triangle; shared ones give smooth normals).
    """
    import trimesh

    path = Path(path)
    if path.suffix.lower() not in MESH_SUFFIXES:
        raise InputError(f"{path}: unsupported mesh type {path.suffix!r}; expected one of {list(MESH_SUFFIXES)}")
    if not path.is_file():
        raise InputError(f"{path}: no such mesh file")
    try:
        mesh = trimesh.load(path, force="mesh", process=False)
    except Exception as exc:  # noqa: BLE001 - trimesh raises many types for corrupt files
        raise InputError(f"{path}: cannot read mesh ({type(exc).__name__}: {exc})") from exc
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0 or len(mesh.vertices) < 3:
        raise InputError(f"{path}: mesh is empty (no triangles)")
    bad = int((~np.isfinite(np.asarray(mesh.vertices))).any(axis=1).sum())
    if bad:
        raise InputError(f"{path}: {bad} vertices are NaN or infinite")
    mesh.merge_vertices()
    return np.asarray(mesh.vertices, float), np.asarray(mesh.faces, np.int64)


def load_mesh_part(path: str | Path, units: str = "m") -> Part:
    """Read a watertight or open (but edge-manifold) triangle mesh; the part frame is the file's frame."""
    import trimesh

    path = Path(path)
    if units not in ("m", "mm"):
        raise InputError(f"{path}: units {units!r}: expected 'm' or 'mm'")
    vertices, faces = read_mesh_arrays(path)
    mesh = trimesh.Trimesh(vertices, faces, process=True)
    vertices = np.asarray(mesh.vertices, float)
    extent = float(np.max(np.ptp(vertices, axis=0)))
    if units == "mm":
        vertices = vertices / 1000.0
    elif extent > _MAX_METRES_EXTENT:
        raise InputError(f"{path}: mesh is {extent:.1f} units across; this looks like millimetres, "
                         "not metres; pass units='mm' (--units mm) to scale it")
    edges = np.sort(mesh.edges, axis=1)
    _, uses = np.unique(edges, axis=0, return_counts=True)
    if np.any(uses > 2):
        raise InputError(f"{path}: mesh is non-manifold ({int(np.sum(uses > 2))} edges shared by more than two faces)")
    if float(mesh.area) <= 0.0:
        raise InputError(f"{path}: mesh has zero surface area")
    params = {"kind": "mesh", "source": str(path), "units": units}
    normals = np.asarray(mesh.vertex_normals, float)
    return Part(params, vertices, np.asarray(mesh.faces, np.int32), normals)


def export_stl(part: Part, path: str | Path) -> Path:
    """Binary STL in metres (Gazebo's unit)."""
    import trimesh

    mesh = trimesh.Trimesh(part.vertices, part.triangles, process=False)
    return write_bytes_atomic(path, mesh.export(file_type="stl"))


def export_dae(part: Part, path: str | Path, rgb: tuple[float, float, float] = (0.75, 0.76, 0.78)) -> Path:
    """Minimal Collada 1.4.1 with vertex normals and one material, which Gazebo and RViz both read."""
    positions = " ".join(f"{x:.7g}" for x in part.vertices.ravel())
    normals = " ".join(f"{x:.6g}" for x in part.vertex_normals.ravel())
    indices = " ".join(str(i) for i in np.repeat(part.triangles.ravel(), 2))
    n_vertices, n_triangles = len(part.vertices), len(part.triangles)
    colour = " ".join(f"{c:.4g}" for c in rgb)
    name = escape(Path(path).stem)
    text = f"""<?xml version="1.0" encoding="utf-8"?>
<COLLADA xmlns="http://www.collada.org/2005/11/COLLADASchema" version="1.4.1">
  <asset><unit name="meter" meter="1"/><up_axis>Z_UP</up_axis></asset>
  <library_effects><effect id="skin-effect"><profile_COMMON><technique sid="common"><phong>
    <diffuse><color>{colour} 1</color></diffuse><specular><color>0.5 0.5 0.5 1</color></specular>
    <shininess><float>40</float></shininess></phong></technique></profile_COMMON></effect></library_effects>
  <library_materials>
    <material id="skin" name="skin"><instance_effect url="#skin-effect"/></material></library_materials>
  <library_geometries><geometry id="part-mesh" name="{name}"><mesh>
{_source("positions", positions, n_vertices)}{_source("normals", normals, n_vertices)}\
    <vertices id="part-vertices"><input semantic="POSITION" source="#part-positions"/></vertices>
    <triangles material="skin" count="{n_triangles}">
      <input semantic="VERTEX" source="#part-vertices" offset="0"/>
      <input semantic="NORMAL" source="#part-normals" offset="1"/>
      <p>{indices}</p></triangles>
  </mesh></geometry></library_geometries>
  <library_visual_scenes><visual_scene id="scene"><node id="part" name="part">
    <instance_geometry url="#part-mesh"><bind_material><technique_common>
      <instance_material symbol="skin" target="#skin"/></technique_common></bind_material></instance_geometry>
  </node></visual_scene></library_visual_scenes>
  <scene><instance_visual_scene url="#scene"/></scene>
</COLLADA>
"""
    return write_text_atomic(path, text)


def _source(name: str, values: str, count: int) -> str:
    """A Collada float source of ``count`` xyz triples."""
    xyz = '<param name="X" type="float"/><param name="Y" type="float"/><param name="Z" type="float"/>'
    return (f'    <source id="part-{name}"><float_array id="part-{name}-array" count="{3 * count}">{values}'
            f'</float_array>\n      <technique_common><accessor source="#part-{name}-array" count="{count}" '
            f'stride="3">{xyz}</accessor></technique_common></source>\n')
