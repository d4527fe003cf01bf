"""Presses on the real surface, along the inward normal, covering every region completely.

Truth comes from the analytic shapes (cylinder, dome, saddle, sphere), not from the mesh the planner
sees, and coverage is checked with an independent footprint test on random region points.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inspection.cell import load_cell
from inspection.geometry.surface import PartSurface
from inspection.records import ScanRegion
from inspection.planning.coverage import RegionError
from inspection.planning.interfaces import StageError
from inspection.planning.planner import PlannerSettings, TactileScanPlanner
from inspection.sim import shapes

CELL = load_cell()
WIDTH, HEIGHT = CELL.tactile.footprint_m
DEPTH = CELL.tactile.press_depth_m


@dataclass(frozen=True)
class Shape:
    """A mesh plus its analytic surface: projection onto it and the outward normal."""

    surface: PartSurface
    project: Callable[[np.ndarray], np.ndarray]
    normal: Callable[[np.ndarray], np.ndarray]


def _cylinder() -> Shape:
    def project(p: np.ndarray) -> np.ndarray:
        axis = np.column_stack([np.zeros(len(p)), p[:, 1], np.full(len(p), -1.0)])
        radial = (p - axis) * np.array([1.0, 0.0, 1.0])
        return axis + radial / np.linalg.norm(radial, axis=1, keepdims=True)

    return Shape(PartSurface.from_arrays(*shapes.cylinder_panel(1.0, math.pi / 3, 0.5)), project,
                 lambda p: shapes.cylinder_panel_normal(p, 1.0))


def _height_field(kx: float, ky: float) -> Shape:
    def project(p: np.ndarray) -> np.ndarray:
        return np.column_stack([p[:, 0], p[:, 1], -(kx * p[:, 0] ** 2 + ky * p[:, 1] ** 2) / 2])

    return Shape(PartSurface.from_arrays(*shapes.height_field(kx, ky, 0.5, 0.01)), project,
                 lambda p: shapes.height_field_normal(p, kx, ky))


def _sphere() -> Shape:
    center = np.array([0.0, 0.0, -0.15])

    def project(p: np.ndarray) -> np.ndarray:
        return center + 0.15 * (p - center) / np.linalg.norm(p - center, axis=1, keepdims=True)

    return Shape(PartSurface.from_arrays(*shapes.sphere(0.15, 5)), project, lambda p: shapes.sphere_normal(p, 0.15))


SHAPES = {"cylinder": _cylinder(), "dome": _height_field(2.0, 2.0), "saddle": _height_field(2.0, -2.0),
          "sphere": _sphere()}


@pytest.fixture(scope="module")
def planner() -> TactileScanPlanner:
    return TactileScanPlanner(CELL, PlannerSettings())


def _region(shape: Shape, u: float, v: float, radius: float, name: str = "r") -> ScanRegion:
    point = shape.project(np.array([[u, v, 0.05]]))[0]
    return ScanRegion(name, tuple(point), tuple(shape.normal(point[None])[0]), radius)


def _region_points(shape: Shape, region: ScanRegion, count: int = 1500, seed: int = 0) -> np.ndarray:
    """Random points of the analytic surface within radius_m of the region centre (rim included)."""
    rng = np.random.default_rng(seed)
    center, normal = np.array(region.center), np.array(region.normal)
    x = np.cross(normal, [0.3, 0.5, 0.8])
    x /= np.linalg.norm(x)
    y = np.cross(normal, x)
    radius = region.radius_m * np.sqrt(rng.random(count))
    radius[: count // 5] = region.radius_m * 0.999  # stress the rim
    angle = rng.random(count) * 2 * math.pi
    points = shape.project(center + (radius * np.cos(angle))[:, None] * x + (radius * np.sin(angle))[:, None] * y)
    return points[np.linalg.norm(points - center, axis=1) <= region.radius_m]


def _touched(presses, points: np.ndarray) -> np.ndarray:
    """Independent footprint test: inside the gel rectangle and within the press depth of the gel plane."""
    hit = np.zeros(len(points), dtype=bool)
    for press in presses:
        z = -press.normal
        x = press.x_axis
        y = np.cross(z, x)
        d = points - press.position
        hit |= (np.abs(d @ x) <= WIDTH / 2) & (np.abs(d @ y) <= HEIGHT / 2) & (np.abs(d @ z) <= DEPTH)
    return hit


def _check_on_surface_and_normal(shape: Shape, presses) -> None:
    for press in presses:
        on_surface = shape.project(press.position[None])[0]
        assert np.linalg.norm(on_surface - press.position) < 1e-3
        truth = shape.normal(press.position[None])[0]
        angle = math.degrees(math.acos(np.clip(-press.approach_axis @ truth, -1, 1)))
        assert angle < 2.0, f"tool axis {angle:.2f} deg from the inward normal"
        assert abs(press.x_axis @ press.normal) < 1e-9  # the footprint lies in the tangent plane


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(sorted(SHAPES)), u=st.floats(-0.12, 0.12), v=st.floats(-0.12, 0.12),
       radius=st.floats(0.004, 0.04))
def test_presses_lie_on_the_surface_along_the_inward_normal_and_cover_the_region(planner, name, u, v, radius) -> None:
    shape = SHAPES[name]
    region = _region(shape, u, v, radius)
    paths = planner.tool_paths(shape.surface, [region])
    presses = paths.presses
    assert presses and not paths.uncovered
    _check_on_surface_and_normal(shape, presses)
    points = _region_points(shape, region)
    assert _touched(presses, points).all(), f"{(~_touched(presses, points)).sum()} region points untouched"
    assert all(p.depth_m == DEPTH and p.approach_m == CELL.tactile.approach_standoff_m for p in presses)


def test_overlapping_regions_are_merged_and_share_presses(planner) -> None:
    shape = SHAPES["cylinder"]
    a, b = _region(shape, 0.0, 0.0, 0.02, "a"), _region(shape, 0.015, 0.0, 0.02, "b")
    together = planner.tool_paths(shape.surface, [a, b])
    separately = sum(len(planner.tool_paths(shape.surface, [r]).presses) for r in (a, b))
    assert len(together.paths) == 1 and set(together.paths[0].regions) == {"a", "b"}
    assert len(together.presses) < separately
    for region in (a, b):
        assert _touched(together.presses, _region_points(shape, region)).all()


def test_region_over_the_border_covers_the_part_that_exists(planner) -> None:
    shape = SHAPES["dome"]  # the mesh ends at |x| = 0.25
    region = _region(shape, 0.245, 0.0, 0.03)
    presses = planner.tool_paths(shape.surface, [region]).presses
    points = _region_points(shape, region)
    on_mesh = points[points[:, 0] <= 0.25]
    assert _touched(presses, on_mesh).all()
    assert all(p.position[0] <= 0.25 + 1e-9 for p in presses)  # no press off the part


def test_region_over_a_hole_puts_no_press_in_the_hole(planner) -> None:
    vertices, triangles = shapes.height_field(0.0, 0.0, 0.3, 0.005)
    centroids = vertices[triangles].mean(axis=1)
    keep = np.abs(centroids[:, :2]).max(axis=1) > 0.01  # a 20 mm square hole at the origin
    surface = PartSurface.from_arrays(vertices, triangles[keep])
    region = ScanRegion("h", (0.014, 0.0, 0.0), (0.0, 0.0, 1.0), 0.03)
    presses = planner.tool_paths(surface, [region]).presses
    assert presses
    assert all(np.abs(p.position[:2]).max() >= 0.01 - 1e-9 for p in presses)
    rng = np.random.default_rng(1)
    points = np.column_stack([rng.uniform(-0.02, 0.05, (6000, 2)), np.zeros(6000)])
    in_region = np.linalg.norm(points - region.center, axis=1) <= 0.03
    ring = points[in_region & (np.abs(points[:, :2]).max(axis=1) >= 0.01)]
    assert _touched(presses, ring).all()


def test_closed_mesh_with_zero_average_normal_is_planned_from_outside(planner) -> None:
    shape = SHAPES["sphere"]
    assert np.linalg.norm((shape.surface.face_normals * shape.surface.face_areas[:, None]).sum(axis=0)) < 1e-6
    # A region on the side: the inward normal is horizontal there.
    point = np.array([0.15 * math.sin(1.0), 0.0, -0.15 + 0.15 * math.cos(1.0)])
    region = ScanRegion("side", tuple(point), tuple(shapes.sphere_normal(point[None])[0]), 0.02)
    presses = planner.tool_paths(shape.surface, [region]).presses
    _check_on_surface_and_normal(shape, presses)
    assert _touched(presses, _region_points(shape, region)).all()


def test_flipped_triangle_winding_still_gives_outward_normals(planner) -> None:
    vertices, triangles = shapes.cylinder_panel(1.0, math.pi / 3, 0.5)
    flipped = PartSurface.from_arrays(vertices, triangles[:, ::-1])
    region = _region(SHAPES["cylinder"], 0.05, 0.0, 0.01)
    _check_on_surface_and_normal(SHAPES["cylinder"], planner.tool_paths(flipped, [region]).presses)


def test_region_off_the_mesh_is_a_named_error(planner) -> None:
    region = ScanRegion("far", (0.0, 0.0, 0.2), (0.0, 0.0, 1.0), 0.01)
    with pytest.raises(StageError, match=r"RegionCoveragePlanner failed on mesh 0: region 'far'") as info:
        planner.tool_paths(SHAPES["cylinder"].surface, [region])
    assert isinstance(info.value.__cause__, RegionError)


def test_full_coverage_covers_the_whole_closed_part(planner) -> None:
    small = PartSurface.from_arrays(*shapes.sphere(0.05, 4))
    paths = planner.tool_paths(small, full_coverage=True)
    rng = np.random.default_rng(3)
    direction = rng.normal(size=(3000, 3))
    points = np.array([0.0, 0.0, -0.05]) + 0.05 * direction / np.linalg.norm(direction, axis=1, keepdims=True)
    assert _touched(paths.presses, points).all()
    assert small.area / len(paths.presses) < WIDTH * HEIGHT  # neighbouring presses overlap, as they must


def test_full_coverage_baseline_is_not_inflated(planner) -> None:
    """The saving of targeted scanning is quoted against this count, so it must be near the ideal raster."""
    plate = PartSurface.from_arrays(*shapes.height_field(0.0, 0.0, 0.2, 0.01))
    count = len(planner.tool_paths(plate, full_coverage=True).presses)
    pitch_x, pitch_y = planner.footprint.pitch
    ideal = math.ceil(0.2 / pitch_x) * math.ceil(0.2 / pitch_y)
    assert 0.04 / (WIDTH * HEIGHT) <= count <= 1.1 * ideal  # at least area / footprint, at most 10% over the grid


def test_a_press_budget_never_trims_the_full_coverage_baseline(planner) -> None:
    """The shipped planner caps targeted presses per part; the raster it is compared with stays whole."""
    plate = PartSurface.from_arrays(*shapes.height_field(0.0, 0.0, 0.2, 0.01))
    whole = len(planner.tool_paths(plate, full_coverage=True).presses)
    capped = TactileScanPlanner(CELL, PlannerSettings(max_presses=4))
    assert len(capped.tool_paths(plate, full_coverage=True).presses) == whole > 4
    assert len(capped.plan(plate, full_coverage=True).presses) == whole
