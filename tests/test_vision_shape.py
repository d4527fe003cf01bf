"""The photometric-stereo shape finder (vision.shape) on bursts rendered here from known height fields."""
from __future__ import annotations

import numpy as np
import pytest

from inspection.cell import PhotometricRig, load_cell
from inspection.errors import InputError
from inspection.json_codec import SchemaError
from inspection.vision.shape import ShapeSettings, check_burst, find_shape_defects, surface_slopes

RIG = PhotometricRig()
LIGHTS = RIG.light_directions()
SIZE = (240, 320)


def _burst(depth: np.ndarray, albedo: np.ndarray | float = 0.6, noise: float = 0.004, seed: int = 0) -> np.ndarray:
    """Lambertian images of a surface at ``depth`` (pixels, away from the camera) under each light, with room
    light and sensor noise, 8-bit sRGB-like as the camera delivers them."""
    slope_y, slope_x = np.gradient(depth)
    normals = np.stack([slope_x, slope_y, -np.ones_like(depth)], axis=2)
    normals /= np.linalg.norm(normals, axis=2, keepdims=True)
    rng = np.random.default_rng(seed)
    images = []
    for light in LIGHTS:
        linear = albedo * np.clip(normals @ light, 0.0, None) + 0.05
        linear = linear + noise * rng.standard_normal(depth.shape)
        images.append(np.clip(255.0 * np.clip(linear, 0, 1) ** (1 / 2.2) + 0.5, 0, 255).astype(np.uint8))
    return np.stack(images, axis=2)


def _bowl(centre: tuple[float, float], depth: float, sigma: float) -> np.ndarray:
    rows, cols = np.mgrid[0:SIZE[0], 0:SIZE[1]].astype(float)
    return depth * np.exp(-((cols - centre[0]) ** 2 + (rows - centre[1]) ** 2) / (2 * sigma ** 2))


def _curved_panel() -> np.ndarray:
    """A gently curved part (its own shape, which the finder must ignore)."""
    cols = np.arange(SIZE[1], dtype=float)
    return np.tile(4e-4 * (cols - SIZE[1] / 2) ** 2, (SIZE[0], 1))


def test_slopes_of_a_tilted_plane_are_recovered_whatever_the_paint_colour():
    rows, cols = np.mgrid[0:SIZE[0], 0:SIZE[1]].astype(float)
    depth = 0.1 * cols - 0.05 * rows
    albedo = 0.4 + 0.3 * (cols > SIZE[1] / 2)  # two paints: photometric stereo divides the colour out
    slope_x, slope_y, valid = surface_slopes(_burst(depth, albedo, noise=0.0), LIGHTS)
    inner = valid[10:-10, 10:-10]
    assert inner.all()
    assert np.median(slope_x[10:-10, 10:-10]) == pytest.approx(0.1, abs=0.02)
    assert np.median(slope_y[10:-10, 10:-10]) == pytest.approx(-0.05, abs=0.02)


def test_a_dent_and_a_bump_are_found_where_they_are_and_told_apart():
    depth = _curved_panel() + _bowl((80, 120), 1.0, 5.0) + _bowl((240, 100), -1.0, 5.0)
    found = find_shape_defects(_burst(depth), LIGHTS, ShapeSettings(), view_id="v0")
    assert len(found) == 2
    by_class = {d.class_name: d for d in found}
    assert set(by_class) == {"dent", "bump"}
    dent, bump = by_class["dent"], by_class["bump"]
    assert dent.x1 < 80 < dent.x2 and dent.y1 < 120 < dent.y2
    assert bump.x1 < 240 < bump.x2 and bump.y1 < 100 < bump.y2
    assert all(d.finder == "shape" and d.view_id == "v0" and d.confidence == ShapeSettings().confidence for d in found)


def test_a_scratch_is_a_line():
    rows, cols = np.mgrid[0:SIZE[0], 0:SIZE[1]].astype(float)
    across = (rows - 0.4 * cols - 60) / np.sqrt(1 + 0.4 ** 2)
    along = np.abs(cols - 150) < 60
    depth = np.where(along, 0.8 * np.exp(-across ** 2 / (2 * 1.5 ** 2)), 0.0)
    found = find_shape_defects(_burst(depth), LIGHTS, ShapeSettings())
    assert [d.class_name for d in found] == ["scratch"]


def test_a_smooth_part_and_a_row_of_rivets_give_nothing():
    """Noise, the part's curvature and its repeated features (flush rivet heads) are not defects; a single
    dent beside the rivet row still is."""
    rivets = sum(_bowl((30 + 40 * k, 60), -0.6, 2.0) for k in range(7))
    depth = _curved_panel() + rivets
    assert find_shape_defects(_burst(depth), LIGHTS, ShapeSettings()) == []
    found = find_shape_defects(_burst(depth + _bowl((160, 170), 1.0, 5.0)), LIGHTS, ShapeSettings())
    assert [(d.class_name, d.x1 < 160 < d.x2, d.y1 < 170 < d.y2) for d in found] == [("dent", True, True)]


def test_a_finding_inside_a_detector_box_is_left_to_it():
    from inspection.records import Detection2D

    depth = _bowl((80, 120), 1.0, 5.0)
    box = Detection2D(x1=60, y1=100, x2=100, y2=140, class_name="dent", confidence=0.9)
    assert find_shape_defects(_burst(depth), LIGHTS, ShapeSettings(), covered=[box]) == []


def test_bad_bursts_are_named():
    burst = _burst(np.zeros(SIZE))
    with pytest.raises(InputError, match="view a burst: 4 images for 3 lights"):
        check_burst(burst, LIGHTS[:3], "view a burst")
    with pytest.raises(InputError, match="8-bit"):
        check_burst(burst.astype(np.float32), LIGHTS, "view a burst")
    with pytest.raises(InputError, match="320x240 images for a 640x480 frame"):
        check_burst(burst, LIGHTS, "view a burst", (480, 640))
    flat = LIGHTS.copy()
    flat[:, 2] = 0.0
    with pytest.raises(InputError, match="do not span 3D"):
        check_burst(burst, flat, "view a burst")


def test_the_rig_is_validated_and_shipped():
    with pytest.raises(SchemaError, match="elevation_deg"):
        PhotometricRig(elevation_deg=5.0)
    with pytest.raises(SchemaError, match="at least 3"):
        PhotometricRig(azimuths_deg=(0.0, 180.0))
    rig = load_cell().camera.photometric
    assert rig is not None
    directions = rig.light_directions()
    assert np.allclose(np.linalg.norm(directions, axis=1), 1.0)
    assert np.all(directions[:, 2] < 0)  # every light is on the camera's side of the part
    positions = rig.light_positions()
    seen_from_axis = positions - np.array([0.0, 0.0, rig.working_distance_m])
    elevation = np.degrees(np.arcsin(-seen_from_axis[:, 2] / np.linalg.norm(seen_from_axis, axis=1)))
    assert np.allclose(elevation, rig.elevation_deg)
