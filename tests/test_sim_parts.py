"""Parametric parts (geometry, parameterisation, area sampling) and mesh loading/export."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest
import trimesh

from inspection.errors import InputError
from inspection.geometry.mesh_io import export_dae, export_stl
from inspection.sim.parts import PART_KINDS, build_part, load_mesh_part, random_part


@pytest.fixture(scope="module", params=PART_KINDS)
def part(request):
    return random_part(np.random.default_rng(7), request.param)


def test_origin_is_top_centre_with_normal_up(part) -> None:
    point, normal, tangent = part.surface(np.zeros(1), np.zeros(1))
    np.testing.assert_allclose(point[0], 0.0, atol=1e-12)
    np.testing.assert_allclose(normal[0], [0.0, 0.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(tangent[0], [1.0, 0.0, 0.0], atol=1e-12)


def test_normals_are_unit_outward_and_match_the_faces(part) -> None:
    np.testing.assert_allclose(np.linalg.norm(part.vertex_normals, axis=1), 1.0, atol=1e-9)
    corners = part.vertices[part.triangles]
    face_normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    face_normals /= np.linalg.norm(face_normals, axis=1, keepdims=True)
    vertex_mean = part.vertex_normals[part.triangles].mean(axis=1)
    assert np.all(np.einsum("ij,ij->i", face_normals, vertex_mean) > 0.99)  # counter-clockwise from outside
    assert part.vertex_normals[:, 2].min() > 0.2  # nothing faces away from the top (convex-up parts)


def test_parameterisation_agrees_with_the_mesh_and_with_its_own_derivatives(part) -> None:
    rng = np.random.default_rng(0)
    length, width = part.uv_extent
    u, v = rng.uniform(-length / 2, length / 2, 400), rng.uniform(-width / 2, width / 2, 400)
    points, normals, tangents = part.surface(u, v)
    import open3d as o3d

    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.core.Tensor(part.vertices.astype(np.float32)),
                        o3d.core.Tensor(part.triangles.astype(np.uint32)))
    distance = scene.compute_distance(o3d.core.Tensor(points.astype(np.float32))).numpy()
    assert distance.max() < 1.5e-4  # facets stay within ~0.1 mm of the analytic surface
    h = 1e-6
    du = (part.surface(u + h, v)[0] - part.surface(u - h, v)[0]) / (2 * h)
    dv = (part.surface(u, v + h)[0] - part.surface(u, v - h)[0]) / (2 * h)
    np.testing.assert_allclose(np.linalg.norm(dv, axis=1), 1.0, atol=1e-4)  # v is arc length
    np.testing.assert_allclose(np.einsum("ij,ij->i", du, normals), 0.0, atol=1e-4)
    np.testing.assert_allclose(np.einsum("ij,ij->i", dv, normals), 0.0, atol=1e-4)
    cross = np.cross(du, dv)
    np.testing.assert_allclose(cross / np.linalg.norm(cross, axis=1, keepdims=True), normals, atol=1e-4)
    np.testing.assert_allclose(du / np.linalg.norm(du, axis=1, keepdims=True), tangents, atol=1e-6)


def test_random_part_fits_the_camera_and_rebuilds_from_its_json(part) -> None:
    extent = np.ptp(part.vertices, axis=0)
    assert 0.15 < extent[0] <= 0.6 + 1e-9 and extent[1] <= 0.5
    rebuilt = build_part(part.to_json())
    np.testing.assert_array_equal(rebuilt.vertices, part.vertices)
    np.testing.assert_array_equal(rebuilt.triangles, part.triangles)


def test_sample_surface_is_uniform_by_area() -> None:
    part = random_part(np.random.default_rng(3), "dome")
    points, normals, tangents = part.sample_surface(np.random.default_rng(1), 40000)
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-9)
    np.testing.assert_allclose(np.einsum("ij,ij->i", normals, tangents), 0.0, atol=1e-9)
    corners = part.vertices[part.triangles]
    areas = 0.5 * np.linalg.norm(np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=1)
    centroid_y = corners[:, :, 1].mean(axis=1)
    for limit in (0.05, 0.1):
        expected = areas[np.abs(centroid_y) < limit].sum() / areas.sum()
        assert abs(np.mean(np.abs(points[:, 1]) < limit) - expected) < 0.012


def test_unknown_kind_is_an_input_error() -> None:
    with pytest.raises(InputError, match="part kind"):
        build_part({"kind": "banana", "length_m": 0.3})


def _write_box(path, scale: float = 1.0) -> None:
    trimesh.creation.box(extents=(0.3 * scale, 0.2 * scale, 0.01 * scale)).export(path)


def test_load_mesh_in_metres_and_export_round_trip(tmp_path) -> None:
    _write_box(tmp_path / "panel.stl")
    part = load_mesh_part(tmp_path / "panel.stl")
    np.testing.assert_allclose(np.ptp(part.vertices, axis=0), [0.3, 0.2, 0.01], atol=1e-6)
    points, normals, _ = part.sample_surface(np.random.default_rng(0), 100)
    assert np.all(np.abs(points) <= [0.15 + 1e-6, 0.1 + 1e-6, 0.005 + 1e-6])
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0)
    export_stl(part, tmp_path / "out.stl")
    assert len(trimesh.load(tmp_path / "out.stl").faces) == len(part.triangles)
    export_dae(part, tmp_path / "out.dae")
    root = ET.parse(tmp_path / "out.dae").getroot()
    ns = {"c": "http://www.collada.org/2005/11/COLLADASchema"}
    assert int(root.find(".//c:triangles", ns).get("count")) == len(part.triangles)
    positions = root.find(".//c:float_array", ns).text.split()
    assert len(positions) == 3 * len(part.vertices)


def test_millimetre_mesh_is_refused_unless_units_mm(tmp_path) -> None:
    _write_box(tmp_path / "cad.stl", scale=1000.0)
    with pytest.raises(InputError, match=r"cad\.stl.*millimetres"):
        load_mesh_part(tmp_path / "cad.stl")
    part = load_mesh_part(tmp_path / "cad.stl", units="mm")
    np.testing.assert_allclose(np.ptp(part.vertices, axis=0), [0.3, 0.2, 0.01], atol=1e-6)


@pytest.mark.parametrize("content, message", [
    (b"", "empty|cannot read"),
    (b"solid junk\nthis is not an stl\n", "empty|cannot read"),
])
def test_broken_or_empty_mesh_names_the_file(tmp_path, content, message) -> None:
    path = tmp_path / "broken.stl"
    path.write_bytes(content)
    with pytest.raises(InputError, match=rf"broken\.stl: .*({message})"):
        load_mesh_part(path)


def test_non_manifold_mesh_is_refused(tmp_path) -> None:
    vertices = [[0, 0, 0], [0.1, 0, 0], [0, 0.1, 0], [0, -0.1, 0], [0, 0, 0.1]]
    faces = [[0, 1, 2], [1, 0, 3], [0, 1, 4]]  # edge 0-1 shared by three faces
    trimesh.Trimesh(vertices, faces, process=False).export(tmp_path / "fin.ply")
    with pytest.raises(InputError, match=r"fin\.ply: mesh is non-manifold"):
        load_mesh_part(tmp_path / "fin.ply")


def test_missing_and_unsupported_files(tmp_path) -> None:
    with pytest.raises(InputError, match="no such mesh file"):
        load_mesh_part(tmp_path / "absent.stl")
    (tmp_path / "part.step").write_text("ISO-10303-21;")
    with pytest.raises(InputError, match="unsupported mesh type"):
        load_mesh_part(tmp_path / "part.step")
