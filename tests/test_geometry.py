"""The one part geometry (inspection.geometry) against shapes whose answers are known in closed form: a
sphere (hits and closest points at the radius, normals along the radius) and a flat plate; tangent
frames; and the mesh reader's refusals, each one line naming the file."""
from __future__ import annotations

import numpy as np
import pytest
import trimesh

from inspection.errors import InputError
from inspection.geometry.mesh_io import export_stl, load_mesh, read_mesh_arrays
from inspection.geometry.surface import PartSurface, tangent_frame

RADIUS = 0.1


def sphere(subdivisions: int = 4) -> PartSurface:
    mesh = trimesh.creation.icosphere(subdivisions=subdivisions, radius=RADIUS)
    return PartSurface.from_arrays(mesh.vertices, mesh.faces, "sphere")


def plate(size: float = 0.2) -> PartSurface:
    """A square in z = 0, wound so that +z is outward, split into a small and a large triangle (1:3 area)."""
    half = size / 2
    vertices = [[-half, -half, 0.0], [half, -half, 0.0], [half, half, 0.0], [-half, half, 0.0], [0.0, -half, 0.0]]
    return PartSurface.from_arrays(np.array(vertices), np.array([[0, 4, 3], [4, 1, 2], [4, 2, 3]]), "plate")


def unit_directions(count: int, seed: int = 0) -> np.ndarray:
    directions = np.random.default_rng(seed).normal(size=(count, 3))
    return directions / np.linalg.norm(directions, axis=1, keepdims=True)


def sag(surface: PartSurface) -> float:
    """How far the facets of a mesh inscribed in the sphere dip below it: every point of the mesh is
    within this of the radius (plus float32 rounding in open3d)."""
    corners = surface.vertices[surface.triangles[:, 0]]
    return RADIUS - float(np.min(np.abs(np.einsum("ij,ij->i", surface.face_normals, corners)))) + 1e-6


SAG_M = sag(sphere())  # 0.11 mm for 7.5 mm facets


def test_rays_towards_the_centre_hit_the_sphere_with_normals_facing_the_camera() -> None:
    surface = sphere()
    outward = unit_directions(200)
    origins = 0.5 * outward
    points, normals, hit = surface.cast(origins, -outward)
    assert hit.all()
    np.testing.assert_allclose(np.linalg.norm(points, axis=1), RADIUS, atol=SAG_M)
    assert np.all(np.einsum("ij,ij->i", normals, outward) > np.cos(np.radians(1.0)))  # along the radius, outward
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0)
    distances, triangles = surface.first_hits(origins, -outward)
    np.testing.assert_allclose(distances, 0.5 - RADIUS, atol=SAG_M)
    assert np.all((triangles >= 0) & (triangles < len(surface.triangles)))


def test_a_camera_inside_sees_normals_facing_it_and_misses_are_nan() -> None:
    surface = sphere()
    directions = unit_directions(50, seed=1)
    points, normals, hit = surface.cast(np.zeros((50, 3)), directions)
    assert hit.all()
    assert np.all(np.einsum("ij,ij->i", normals, directions) < 0)  # facing the ray origin, whatever the winding
    away = np.tile([0.0, 0.0, 1.0], (3, 1))
    points, normals, hit = surface.cast(np.tile([0.0, 0.0, 0.5], (3, 1)), away)
    assert not hit.any() and np.isnan(points).all() and np.isnan(normals).all()
    distances, triangles = surface.first_hits([0.0, 0.0, 0.5], away)
    assert np.isinf(distances).all() and np.all(triangles == -1)


def test_closest_points_lie_on_the_surface_with_outward_normals_from_either_side() -> None:
    surface = sphere()
    directions = unit_directions(300, seed=2)
    for scale in (0.5, 1.5, 3.0):  # inside, outside, far outside
        hit = surface.closest(scale * RADIUS * directions)
        np.testing.assert_allclose(np.linalg.norm(hit.points, axis=1), RADIUS, atol=SAG_M)
        np.testing.assert_allclose(hit.distances, abs(scale - 1) * RADIUS, atol=SAG_M)
        radial = hit.points / np.linalg.norm(hit.points, axis=1, keepdims=True)
        assert np.all(np.einsum("ij,ij->i", hit.normals, radial) > np.cos(np.radians(1.0)))
        np.testing.assert_allclose(surface.distance(scale * RADIUS * directions), hit.distances, atol=1e-6)


def test_closest_point_on_a_plate_is_the_foot_of_the_perpendicular_or_the_nearest_border_point() -> None:
    surface = plate()
    hit = surface.closest([[0.03, -0.02, 0.05], [0.03, -0.02, -0.01], [0.5, 0.0, 0.0]])
    np.testing.assert_allclose(hit.points, [[0.03, -0.02, 0.0], [0.03, -0.02, 0.0], [0.1, 0.0, 0.0]], atol=1e-7)
    np.testing.assert_allclose(hit.distances, [0.05, 0.01, 0.4], atol=1e-7)
    np.testing.assert_allclose(hit.normals, np.tile([0.0, 0.0, 1.0], (3, 1)), atol=1e-12)


def test_vertex_normals_follow_the_winding() -> None:
    outward = sphere(2)
    radial = outward.vertices / np.linalg.norm(outward.vertices, axis=1, keepdims=True)
    np.testing.assert_allclose(np.linalg.norm(outward.vertex_normals, axis=1), 1.0)
    assert np.all(np.einsum("ij,ij->i", outward.vertex_normals, radial) > 0.99)
    inward = PartSurface.from_arrays(outward.vertices, outward.triangles[:, ::-1])
    assert np.all(np.einsum("ij,ij->i", inward.vertex_normals, radial) < -0.99)
    assert np.all(np.einsum("ij,ij->i", inward.closest(0.5 * radial).normals, radial) < -0.99)


def test_a_knife_edge_falls_back_to_the_face_normal() -> None:
    """Two faces back to back: the vertex normals cancel, yet every query still gets a unit normal."""
    vertices = np.array([[0.0, 0.0, 0.0], [0.1, 0.0, 0.0], [0.0, 0.1, 0.0]])
    surface = PartSurface.from_arrays(vertices, np.array([[0, 1, 2], [0, 2, 1]]))
    np.testing.assert_array_equal(surface.vertex_normals, 0.0)
    hit = surface.closest([[0.02, 0.02, 0.01]])
    np.testing.assert_allclose(np.abs(hit.normals), [[0.0, 0.0, 1.0]], atol=1e-12)


def test_tangent_frames_are_orthonormal_and_right_handed() -> None:
    normals = np.vstack([unit_directions(500, seed=3), np.eye(3), -np.eye(3), [[0.95, 0.0, np.sqrt(1 - 0.95 ** 2)]]])
    x_axis, y_axis = tangent_frame(normals)
    for axis in (x_axis, y_axis):
        np.testing.assert_allclose(np.linalg.norm(axis, axis=1), 1.0, atol=1e-12)
        np.testing.assert_allclose(np.einsum("ij,ij->i", axis, normals), 0.0, atol=1e-12)
    np.testing.assert_allclose(np.einsum("ij,ij->i", x_axis, y_axis), 0.0, atol=1e-12)
    np.testing.assert_allclose(np.cross(x_axis, y_axis), normals, atol=1e-12)
    x_up, y_up = tangent_frame(np.array([0.0, 0.0, 1.0]))  # a flat top: the part's own x and y
    np.testing.assert_allclose(np.vstack([x_up, y_up]), [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], atol=1e-12)


def test_samples_are_uniform_by_area_and_on_their_triangle() -> None:
    surface = plate()
    points, faces = surface.sample_points(np.random.default_rng(0), 20000)
    share = np.bincount(faces, minlength=3) / len(faces)
    np.testing.assert_allclose(share, surface.face_areas / surface.area, atol=0.01)
    np.testing.assert_allclose(surface.closest(points).distances, 0.0, atol=1e-7)
    np.testing.assert_allclose(surface.closest(points).triangles, faces)
    assert surface.area == pytest.approx(0.04)


def test_open_and_closed_meshes() -> None:
    assert sphere(1).is_closed and len(sphere(1).boundary_edges()) == 0
    assert not plate().is_closed and len(plate().boundary_edges()) == 5  # the bottom edge is split at vertex 4
    assert len(plate().non_manifold_edges()) == 0


def test_stl_round_trip_keeps_the_surface(tmp_path) -> None:
    surface = sphere(2)
    loaded = load_mesh(export_stl(surface, tmp_path / "ball.stl"))
    assert loaded.name == str(tmp_path / "ball.stl")
    assert len(loaded.vertices) == len(surface.vertices) and len(loaded.triangles) == len(surface.triangles)
    np.testing.assert_allclose(np.sort(loaded.vertices, axis=0), np.sort(surface.vertices, axis=0), atol=1e-6)
    assert loaded.is_closed


def test_millimetre_file_is_refused_unless_units_say_so(tmp_path) -> None:
    path = tmp_path / "cad.stl"
    trimesh.creation.box(extents=(300.0, 200.0, 10.0)).export(path)
    with pytest.raises(InputError, match=r"cad\.stl: the part is 300\.0 m across; were millimetres given\?"):
        load_mesh(path)
    np.testing.assert_allclose(np.ptp(load_mesh(path, units="mm").vertices, axis=0), [0.3, 0.2, 0.01], atol=1e-9)
    with pytest.raises(InputError, match=r"cad\.stl: units 'inch'"):
        load_mesh(path, units="inch")
    np.testing.assert_allclose(np.ptp(read_mesh_arrays(path)[0], axis=0), [300.0, 200.0, 10.0])  # as written


def _obj(path, vertices, faces) -> None:
    path.write_text("".join(f"v {x} {y} {z}\n" for x, y, z in vertices)
                    + "".join(f"f {a + 1} {b + 1} {c + 1}\n" for a, b, c in faces))


@pytest.mark.parametrize(("name", "write", "message"), [
    ("part.step", lambda p: p.write_text("ISO-10303-21;"), r"unsupported mesh type '\.step'"),
    ("absent.stl", lambda p: None, "no such mesh file"),
    ("broken.stl", lambda p: p.write_bytes(b"solid junk\nthis is not an stl\n"), "cannot read mesh|mesh is empty"),
    ("empty.stl", lambda p: p.write_bytes(b""), "cannot read mesh|mesh is empty"),
    ("nan.obj", lambda p: _obj(p, [[0, 0, 0], [0.1, 0, 0], ["nan", 0.1, 0]], [[0, 1, 2]]), "1 vertices are NaN"),
    ("flat.obj", lambda p: _obj(p, [[0, 0, 0], [0.1, 0, 0], [0.2, 0, 0]], [[0, 1, 2]]), "every triangle is degenerate"),
    ("speck.obj", lambda p: _obj(p, [[0, 0, 0], [1e-4, 0, 0], [0, 1e-4, 0]], [[0, 1, 2]]), "kilometres"),
    ("fin.obj", lambda p: _obj(p, [[0, 0, 0], [0.1, 0, 0], [0, 0.1, 0], [0, -0.1, 0], [0, 0, 0.1]],
                               [[0, 1, 2], [1, 0, 3], [0, 1, 4]]), r"non-manifold \(1 edges"),
])
def test_a_broken_mesh_is_refused_in_one_line_naming_the_file(tmp_path, name, write, message) -> None:
    path = tmp_path / name
    write(path)
    with pytest.raises(InputError, match=message) as error:
        load_mesh(path)
    assert str(error.value).startswith(f"{path}: ") and "\n" not in str(error.value)


@pytest.mark.parametrize(("vertices", "triangles", "message"), [
    (np.zeros((5, 2)), np.array([[0, 1, 2]]), r"expected \(N, 3\) vertices"),
    (np.eye(3), np.zeros((0, 3), int), r"expected \(M, 3\) triangles, got shape \(0, 3\); is it a point cloud"),
    (np.eye(3), np.array([[0, 1, 3]]), r"triangle indices outside 0\.\.2"),
])
def test_bad_arrays_are_refused_naming_the_mesh(vertices, triangles, message) -> None:
    with pytest.raises(InputError, match=f"panel: {message}"):
        PartSurface.from_arrays(vertices, triangles, "panel")
