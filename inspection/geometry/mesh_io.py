"""Read a customer's part mesh (STL/OBJ/PLY) as a ``PartSurface``, and write meshes for Gazebo (STL, Collada).

One reader for every stage (simulator, planner, Stage I), so they all refuse the same broken files with
one line naming the file. CAD exports are usually in millimetres; a part read as metres would be a
500 m panel and every downstream distance would be silently wrong, so a part over 20 m across is
refused unless ``units="mm"`` is given.
"""
from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

from inspection.atomic import write_bytes_atomic, write_text_atomic
from inspection.geometry.surface import MeshError, PartSurface

MESH_SUFFIXES = (".stl", ".obj", ".ply")
MESH_UNITS = {"m": 1.0, "mm": 1e-3}  # unit name -> metres per unit


def read_mesh_arrays(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Vertices and triangles of an STL/OBJ/PLY file, as written (no unit scaling, no checks of the shape).

    Read unprocessed, so NaN vertices are reported instead of silently dropped with their triangles,
    then duplicate vertices are merged (STL repeats them per triangle; shared ones give smooth normals).
    """
    import trimesh

    path = Path(path)
    if path.suffix.lower() not in MESH_SUFFIXES:
        raise MeshError(f"{path}: unsupported mesh type {path.suffix!r}; expected one of {list(MESH_SUFFIXES)}")
    if not path.is_file():
        raise MeshError(f"{path}: no such mesh file")
    try:
        mesh = trimesh.load(path, force="mesh", process=False)
    except Exception as exc:  # noqa: BLE001 - trimesh raises many types for corrupt files
        raise MeshError(f"{path}: cannot read mesh ({type(exc).__name__}: {exc})") from exc
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0 or len(mesh.vertices) < 3:
        raise MeshError(f"{path}: mesh is empty (no triangles)")
    bad = int((~np.isfinite(np.asarray(mesh.vertices))).any(axis=1).sum())
    if bad:
        raise MeshError(f"{path}: {bad} vertices are NaN or infinite")
    mesh.merge_vertices()
    return np.asarray(mesh.vertices, float), np.asarray(mesh.faces, np.int64)


def load_mesh(path: str | Path, units: str = "m") -> PartSurface:
    """The part surface of a mesh file in ``units`` ('m' or 'mm'), scaled to metres; the part frame is the file's.

    Watertight or open meshes are accepted if every edge joins at most two triangles (a fin or a
    T-junction has no outside to press on); every error names the file.
    """
    path = Path(path)
    if units not in MESH_UNITS:
        raise MeshError(f"{path}: units {units!r}: expected one of {list(MESH_UNITS)}")
    vertices, triangles = read_mesh_arrays(path)
    surface = PartSurface.from_arrays(vertices * MESH_UNITS[units], triangles, name=str(path))
    shared = len(surface.non_manifold_edges())
    if shared:
        raise MeshError(f"{path}: mesh is non-manifold ({shared} edges shared by more than two faces)")
    return surface


def export_stl(surface: PartSurface, path: str | Path) -> Path:
    """Binary STL in metres (Gazebo's unit)."""
    import trimesh

    mesh = trimesh.Trimesh(surface.vertices, surface.triangles, process=False)
    return write_bytes_atomic(path, mesh.export(file_type="stl"))


def export_dae(surface: PartSurface, path: str | Path, rgb: tuple[float, float, float] = (0.75, 0.76, 0.78)) -> Path:
    """Minimal Collada 1.4.1 with vertex normals and one material, which Gazebo and RViz both read."""
    positions = " ".join(f"{x:.7g}" for x in surface.vertices.ravel())
    normals = " ".join(f"{x:.6g}" for x in surface.vertex_normals.ravel())
    indices = " ".join(str(i) for i in np.repeat(surface.triangles.ravel(), 2))
    n_vertices, n_triangles = len(surface.vertices), len(surface.triangles)
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
