"""Camera model, renderer boxes/visibility against ground truth, determinism, and view coverage."""
from __future__ import annotations

import numpy as np
import pytest

from inspection.cell import load_cell
from inspection.sim.camera import Camera, look_at
from inspection.sim.defects import Defect
from inspection.sim.lighting import Lighting
from inspection.sim.parts import build_part
from inspection.sim.render import RESOLVABLE_MIN_SIGMAS, RESOLVABLE_MIN_SIZE_PX, Renderer
from inspection.sim.scene import Finish, Scene, random_scene
from inspection.sim.views import coverage, grid_views, normal_view

WIDTH, HEIGHT = 480, 270
PAINT = Finish("painted", (0.7, 0.7, 0.72), 0.08, 100.0, 0.0, 0.008, 1)


@pytest.fixture(scope="module")
def camera() -> Camera:
    return Camera.from_cell(load_cell(), WIDTH, HEIGHT)


def _defect(part, defect_id: str, class_name: str, u: float, v: float, length: float, width: float,
            depth: float, **extra) -> Defect:
    point, normal, tangent = (a[0] for a in part.surface(np.array([u]), np.array([v])))
    return Defect(defect_id, class_name, tuple(point), tuple(normal), tuple(tangent), length, width, depth, **extra)


@pytest.fixture(scope="module")
def panel_scene() -> Scene:
    part = build_part({"kind": "cylinder_panel", "radius_m": 1.5, "arc_length_m": 0.3, "length_m": 0.5})
    defects = [
        _defect(part, "dent", "dent", 0.05, 0.03, 0.024, 0.02, 0.0008),
        _defect(part, "stain", "stain", -0.1, -0.05, 0.03, 0.02, 0.0, albedo_rgb=(0.4, 0.35, 0.3), gloss_factor=0.5),
        _defect(part, "ghost", "dent", 0.12, -0.06, 0.02, 0.02, 1e-8),  # far too shallow to see
        _defect(part, "outside", "bump", 0.235, 0.0, 0.01, 0.01, 0.0003),  # beyond the 0.44 m field of view
    ]
    return Scene(part, PAINT, defects)


def test_projection_inverts_the_ray_directions_with_distortion(camera) -> None:
    assert camera.distortion[0] != 0.0
    for x, y in [(0, 0), (WIDTH - 1, 0), (123, 200), (WIDTH - 1, HEIGHT - 1)]:
        direction = camera.ray_directions(x, y, 1, 1)[0, 0]
        pixel, depth = camera.project((camera.centre + 0.5 * direction)[None])
        np.testing.assert_allclose(pixel[0], [x, y], atol=1e-3)
        assert depth[0] > 0


def test_scaled_camera_keeps_the_field_of_view() -> None:
    full = Camera.from_cell(load_cell())
    small = full.scaled(WIDTH, HEIGHT)
    point = np.array([[0.1, -0.05, 0.0]])
    np.testing.assert_allclose((full.project(point)[0] + 0.5) / 4, small.project(point)[0] + 0.5, atol=1e-9)


def test_boxes_match_the_projected_ground_truth(panel_scene, camera) -> None:
    render = Renderer(panel_scene).render(camera, Lighting.default(), np.random.default_rng(0))
    views = {d.defect_id: d for d in render.defects}
    for defect in panel_scene.defects[:2]:
        view = views[defect.id]
        assert view.camera_visible and view.box is not None
        # Project the footprint outline (the ellipse where the defect fades out) to pixel coordinates.
        angle = np.linspace(0, 2 * np.pi, 64, endpoint=False)
        tangent, normal = np.asarray(defect.tangent), np.asarray(defect.normal)
        bitangent = np.cross(normal, tangent)
        outline = (np.asarray(defect.center) + 0.5 * defect.length_m * np.cos(angle)[:, None] * tangent
                   + 0.5 * defect.width_m * np.sin(angle)[:, None] * bitangent)
        pixels, _ = camera.project(outline)
        x1, y1, x2, y2 = view.box
        # The box lies inside the projected outline (pixel edges are at +-0.5) and fills most of it.
        assert x1 >= pixels[:, 0].min() - 0.5 - 1 and x2 <= pixels[:, 0].max() + 0.5 + 1
        assert y1 >= pixels[:, 1].min() - 0.5 - 1 and y2 <= pixels[:, 1].max() + 0.5 + 1
        assert (x2 - x1) > 0.6 * np.ptp(pixels[:, 0]) and (y2 - y1) > 0.6 * np.ptp(pixels[:, 1])
        centre, _ = camera.project(np.asarray(defect.center)[None])
        assert x1 <= centre[0, 0] + 0.5 <= x2 and y1 <= centre[0, 1] + 0.5 <= y2
    ghost, outside = views["ghost"], views["outside"]
    assert ghost.box is not None and not ghost.camera_visible and ghost.contrast_pixels == 0
    assert outside.box is None and not outside.camera_visible
    assert {d.defect_id for d in render.labels} == {"dent", "stain"}


def test_only_defects_large_and_contrasted_enough_are_resolvable(panel_scene, camera) -> None:
    part = panel_scene.part
    speck = _defect(part, "speck", "stain", -0.05, 0.06, 0.0012, 0.0012, 0.0, albedo_rgb=(0.1, 0.1, 0.1))
    faint = _defect(part, "faint", "stain", -0.1, -0.05, 0.03, 0.02, 0.0, albedo_rgb=(0.9, 0.9, 0.9))
    scene = Scene(part, PAINT, [panel_scene.defects[0], speck, faint])
    render = Renderer(scene).render(camera, Lighting.default(), np.random.default_rng(0))
    views = {d.defect_id: d for d in render.defects}
    dent = views["dent"]  # 24 mm across, 0.8 mm deep: many pixels, well above the noise
    assert dent.camera_resolvable and dent.size_px > 10 and dent.contrast_sigma >= RESOLVABLE_MIN_SIGMAS
    # A dark 1.2 mm speck on ~0.9 mm pixels: strongly contrasted, but too small to have a shape.
    assert views["speck"].contrast_sigma >= RESOLVABLE_MIN_SIGMAS and views["speck"].size_px < RESOLVABLE_MIN_SIZE_PX
    assert not views["speck"].camera_resolvable
    # A 10 % darker stain 30 mm across: visible (many pixels beyond 3 sigma), never 5 sigma above the noise.
    assert views["faint"].camera_visible and views["faint"].size_px > 10
    assert views["faint"].contrast_sigma < RESOLVABLE_MIN_SIGMAS and not views["faint"].camera_resolvable
    assert dent.to_json()["camera_resolvable"] and not views["faint"].to_json()["camera_resolvable"]


def test_defects_change_the_image_only_inside_their_boxes(panel_scene, camera) -> None:
    lighting = Lighting.default()
    with_defects = Renderer(panel_scene).render(camera, lighting, np.random.default_rng(5)).image.astype(int)
    clean_scene = Scene(panel_scene.part, panel_scene.finish, [])
    clean = Renderer(clean_scene).render(camera, lighting, np.random.default_rng(5)).image.astype(int)
    changed = np.abs(with_defects - clean).max(axis=2) > 0
    boxes = [d.box for d in Renderer(panel_scene).render(camera, lighting, np.random.default_rng(5)).defects if d.box]
    inside = np.zeros_like(changed)
    for x1, y1, x2, y2 in boxes:
        inside[max(0, y1 - 4):y2 + 4, max(0, x1 - 4):x2 + 4] = True  # blur spreads a few pixels
    assert changed.any() and not (changed & ~inside).any()


def test_occluded_defect_gets_no_box(camera) -> None:
    part = build_part({"kind": "leading_edge", "nose_radius_m": 0.03, "nose_half_arc_m": 0.03, "blend_m": 0.03,
                       "side_radius_m": 1.0, "width_m": 0.26, "length_m": 0.4})
    hidden = _defect(part, "far-side", "stain", 0.0, 0.11, 0.03, 0.03, 0.0, albedo_rgb=(0.1, 0.1, 0.1))
    near = _defect(part, "near-side", "stain", 0.0, -0.11, 0.03, 0.03, 0.0, albedo_rgb=(0.1, 0.1, 0.1))
    scene = Scene(part, PAINT, [hidden, near])
    side_camera = camera.with_pose(look_at(np.array([0.0, -0.6, -0.02]), np.array([0.0, 0.0, -0.02]),
                                           np.array([0.0, 0.0, 1.0])))
    pixel, depth = side_camera.project(np.asarray(hidden.center)[None])
    assert depth[0] > 0 and 0 <= pixel[0, 0] < WIDTH and 0 <= pixel[0, 1] < HEIGHT  # in the frame, behind the nose
    views = {d.defect_id: d for d in Renderer(scene).render(side_camera, Lighting.default(),
                                                             np.random.default_rng(0)).defects}
    assert views["far-side"].box is None and not views["far-side"].camera_visible
    assert views["near-side"].camera_visible


def test_render_is_deterministic_per_seed_and_noise_differs_between_seeds(camera) -> None:
    scene = random_scene(np.random.default_rng(11))
    renderer = Renderer(scene)
    lighting = Lighting.random(np.random.default_rng(2))
    first = renderer.render(camera, lighting, np.random.default_rng(3))
    again = Renderer(random_scene(np.random.default_rng(11))).render(camera, lighting, np.random.default_rng(3))
    other = renderer.render(camera, lighting, np.random.default_rng(4))
    np.testing.assert_array_equal(first.image, again.image)
    assert first.defects == again.defects
    assert not np.array_equal(first.image, other.image)
    assert first.defects == other.defects  # noise never moves a box or a visibility flag


def test_boxes_scale_with_resolution(panel_scene, camera) -> None:
    small = Renderer(panel_scene).render(camera, Lighting.default(), np.random.default_rng(0))
    double = Renderer(panel_scene).render(camera.scaled(2 * WIDTH, 2 * HEIGHT), Lighting.default(),
                                          np.random.default_rng(0))
    box_small = next(d.box for d in small.defects if d.defect_id == "dent")
    box_double = next(d.box for d in double.defects if d.defect_id == "dent")
    np.testing.assert_allclose(np.asarray(box_double), 2 * np.asarray(box_small), atol=3)


def test_scene_json_round_trip(panel_scene) -> None:
    rebuilt = Scene.from_json(panel_scene.to_json())
    assert rebuilt.defects == panel_scene.defects and rebuilt.finish == panel_scene.finish
    np.testing.assert_array_equal(rebuilt.part.vertices, panel_scene.part.vertices)


def test_random_scene_has_three_to_twelve_defects_on_the_surface() -> None:
    for seed in range(5):
        scene = random_scene(np.random.default_rng(seed))
        assert 3 <= len(scene.defects) <= 12
        centres = np.array([d.center for d in scene.defects])
        import open3d as o3d

        raycaster = o3d.t.geometry.RaycastingScene()
        raycaster.add_triangles(o3d.core.Tensor(scene.part.vertices.astype(np.float32)),
                                o3d.core.Tensor(scene.part.triangles.astype(np.uint32)))
        assert raycaster.compute_distance(o3d.core.Tensor(centres.astype(np.float32))).numpy().max() < 2e-4


def test_grid_views_cover_the_part_and_one_view_does_not() -> None:
    camera = Camera.from_cell(load_cell())  # full resolution: coverage also demands <= 0.5 mm per pixel
    part = build_part({"kind": "dome", "radius_u_m": 1.0, "radius_v_m": 0.8, "width_m": 0.4, "length_m": 0.6})
    views = grid_views(part, camera, distance=0.4)
    full = coverage(part, views, samples=4000)
    assert len(views) >= 4 and full.fraction > 0.97
    corner = normal_view(part, camera, 0.25, 0.15, 0.4)
    assert coverage(part, [corner], samples=4000).fraction < 0.5
    grazing = normal_view(part, camera, 0.0, 0.0, 0.5, tilt=np.radians(75))
    assert coverage(part, [grazing], samples=4000).fraction < coverage(part, [normal_view(
        part, camera, 0.0, 0.0, 0.5)], samples=4000).fraction


def test_interpolated_ray_grid_matches_exact_ray_casting(camera) -> None:
    """Half the rays are interpolated; silhouettes and occlusion edges must still come out exact."""
    part = build_part({"kind": "leading_edge", "nose_radius_m": 0.03, "nose_half_arc_m": 0.03, "blend_m": 0.03,
                       "side_radius_m": 1.0, "width_m": 0.26, "length_m": 0.4})
    renderer = Renderer(Scene(part, PAINT, []))
    tilted = normal_view(part, camera, 0.15, 0.05, 0.45, tilt=np.radians(35), tilt_azimuth=1.0)
    for view in (camera, tilted):
        hit, surface = renderer._hits(view)
        directions = view.ray_directions().reshape(-1, 3)
        t_exact, n_exact = renderer._cast(view.centre.astype(np.float32), directions)
        np.testing.assert_array_equal(hit, np.flatnonzero(np.isfinite(t_exact)))
        n_exact = n_exact[hit] / np.linalg.norm(n_exact[hit], axis=1, keepdims=True)
        # Interpolated points stay on their pixel's ray; along it they may differ by a fraction of the
        # pixel's footprint on the surface (facet creases bend the exact distance).
        error = np.linalg.norm(surface.points - (view.centre + t_exact[hit, None] * directions[hit]), axis=1)
        cos_view = np.abs(np.einsum("ij,ij->i", directions[hit], n_exact))
        footprint = t_exact[hit] / view.fx / np.clip(cos_view, 0.05, None)
        assert np.percentile(error / footprint, 99.9) < 0.1 and (error / footprint).max() < 0.5
        assert np.einsum("ij,ij->i", surface.normals, n_exact).min() > np.cos(np.radians(0.2))


def test_threaded_shading_gives_the_same_bytes(camera) -> None:
    """Chunked shading on threads must not change a single pixel (datasets promise same seed, same bytes)."""
    scene = random_scene(np.random.default_rng(21))
    big = camera.scaled(960, 540)  # enough pixels for several 100k-pixel chunks
    lighting = Lighting.random(np.random.default_rng(22))
    one = Renderer(scene, threads=1).render(big, lighting, np.random.default_rng(0)).image
    three = Renderer(scene, threads=3).render(big, lighting, np.random.default_rng(0)).image
    np.testing.assert_array_equal(one, three)


def test_normal_view_looks_at_its_surface_point_along_the_normal(camera) -> None:
    part = build_part({"kind": "saddle", "radius_u_m": 1.5, "radius_v_m": 0.9, "width_m": 0.35, "length_m": 0.5})
    point, normal, tangent = (a[0] for a in part.surface(np.array([0.1]), np.array([-0.08])))
    view = normal_view(part, camera, 0.1, -0.08, 0.45)
    pixel, depth = view.project(point[None])
    np.testing.assert_allclose(pixel[0], [view.cx, view.cy], atol=1e-6)  # on the optical axis
    assert depth[0] == pytest.approx(0.45)
    axes = view.part_from_camera[:3, :3]
    np.testing.assert_allclose(axes[:, 2], -normal, atol=1e-9)  # looking straight at the surface
    np.testing.assert_allclose(axes[:, 0], tangent, atol=1e-9)  # image x along u at roll 0
    np.testing.assert_allclose(axes.T @ axes, np.eye(3), atol=1e-9)
    assert np.linalg.det(axes) == pytest.approx(1.0)


def _dent_cell(depth_m: float):
    from inspection.sim.cell_sim import SimulatedCell

    part = build_part({"kind": "cylinder_panel", "radius_m": 1.5, "arc_length_m": 0.3, "length_m": 0.5})
    scene = Scene(part, PAINT, [_defect(part, "dent", "dent", 0.05, 0.03, 0.024, 0.02, depth_m)])
    return SimulatedCell(load_cell(), scene, WIDTH, HEIGHT, seed=0)


def test_a_burst_shows_a_dent_the_ring_lit_frame_cannot_resolve() -> None:
    """One image per flash of cell.yaml's rig, 8-bit grey; photometric stereo over it finds a 0.4 mm dent that
    the ring-lit frame shows at about 3 noise sigmas (not resolvable), at the dent's own box."""
    from inspection.vision.shape import ShapeSettings, find_shape_defects

    sim = _dent_cell(0.0004)
    ring = sim.capture(0).defects[0]
    assert not ring.camera_resolvable
    burst = sim.capture_burst(0)
    rig = sim.cell.camera.photometric
    assert burst.shape == (HEIGHT, WIDTH, len(rig.azimuths_deg)) and burst.dtype == np.uint8
    assert len({float(burst[..., k].mean()) for k in range(burst.shape[2])}) == burst.shape[2]  # each lit apart
    found = find_shape_defects(burst, rig.light_directions(), ShapeSettings())
    x1, y1, x2, y2 = ring.box
    assert [(f.class_name, x1 - 3 <= f.x1 and f.x2 <= x2 + 3 and y1 - 3 <= f.y1 and f.y2 <= y2 + 3)
            for f in found] == [("dent", True)]


def test_the_ground_truth_counts_what_the_burst_shows() -> None:
    sim = _dent_cell(0.0015)
    ring = sim.capture(0).defects[0]
    before = sim.ground_truth()["defects"][0]["contrast_sigma"]
    assert before == pytest.approx(ring.contrast_sigma, abs=0.01)
    sim.capture_burst(0)
    best_flash = max(view[0].contrast_sigma for view in sim.burst_defect_views(0))
    assert best_flash > ring.contrast_sigma
    assert sim.ground_truth()["defects"][0]["contrast_sigma"] == pytest.approx(best_flash, abs=0.01)


def test_a_flash_lighting_round_trips_and_lights_only_the_flash() -> None:
    lighting = Lighting.default().with_flash(np.array([0.5, 0.0, 0.0]))
    assert Lighting.from_json(lighting.to_json()) == lighting
    assert "flash_offset" not in Lighting.default().to_json()
    axes = np.diag([1.0, -1.0, -1.0])
    lights = lighting.point_lights(np.array([0.0, 0.0, 0.5]), axes)
    assert len(lights) == 1
    np.testing.assert_allclose(lights[0][0], [0.5, 0.0, 0.5])
