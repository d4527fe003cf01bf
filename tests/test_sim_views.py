"""The simulated cell's view plan: a grid of views at the cell camera's stand-off covers a part larger than one
image, capture(k) renders view k, and ground-truth visibility counts every planned view."""
from __future__ import annotations

import numpy as np
import pytest

from inspection.cell import load_cell
from inspection.sim.camera import Camera
from inspection.sim.cell_sim import SimulatedCell
from inspection.sim.parts import random_part
from inspection.sim.render import RESOLVABLE_MIN_SIGMAS, RESOLVABLE_MIN_SIZE_PX
from inspection.sim.scene import random_scene
from inspection.sim.views import standoff_m, view_plan

WIDTH, HEIGHT = 480, 270  # a quarter of the cell camera, same field of view: cheap renders


@pytest.fixture(scope="module")
def grid_cell() -> SimulatedCell:
    rng = np.random.default_rng(7)
    scene = random_scene(rng, random_part(rng, "cylinder_panel"))
    return SimulatedCell(load_cell(), scene, WIDTH, HEIGHT, seed=7, views="grid")


def test_grid_views_sit_at_the_cell_cameras_standoff_along_the_normal(grid_cell) -> None:
    cell_camera = Camera.from_cell(load_cell())
    assert standoff_m(cell_camera) == pytest.approx(0.5)
    views = grid_cell.views
    assert len(views) > 1 and all(v.width == WIDTH for v in views)
    for view in views:
        axis = view.part_from_camera[:3, 2]
        hits, _, hit = _cast(grid_cell, view.centre, axis)
        assert hit and np.linalg.norm(hits - view.centre) == pytest.approx(0.5, abs=1e-3)
    assert view_plan("fixed", grid_cell.scene.part, cell_camera) == [cell_camera]
    with pytest.raises(ValueError, match="view plan 'spiral'"):
        view_plan("spiral", grid_cell.scene.part, cell_camera)


def _cast(sim: SimulatedCell, origin: np.ndarray, direction: np.ndarray):
    from inspection.geometry.surface import PartSurface

    part = sim.scene.part
    points, normals, hit = PartSurface.from_arrays(part.vertices, part.triangles).cast(origin[None], direction[None])
    return points[0], normals[0], bool(hit[0])


def test_every_defect_falls_in_some_view_and_the_fixed_camera_misses_some(grid_cell) -> None:
    rng = np.random.default_rng(0)
    in_view, covered = set(), set()
    for camera in grid_cell.views:
        in_view |= {d.defect_id for d in grid_cell.renderer.render(camera, grid_cell.lighting, rng).defects
                    if d.box is not None}
        for defect in grid_cell.scene.defects:
            (x, y), depth = (v[0] for v in camera.project(np.asarray(defect.center)[None]))
            if depth > 0 and 0 <= x < camera.width and 0 <= y < camera.height:
                covered.add(defect.id)
    everything = {d.id for d in grid_cell.scene.defects}
    assert covered == everything
    # At this quarter resolution a pixel spans ~1 mm: only a defect smaller than that may leave no box.
    assert all(max(d.length_m, d.width_m) < 1e-3 for d in grid_cell.scene.defects if d.id not in in_view)
    assert len(in_view) >= len(everything) - 1
    fixed = grid_cell.renderer.render(grid_cell.camera, grid_cell.lighting, rng).defects
    assert len([d for d in fixed if d.box is not None]) < len(grid_cell.scene.defects)


def test_capture_k_renders_view_k_and_world_pose_is_the_views(grid_cell) -> None:
    last = len(grid_cell.views) - 1
    render = grid_cell.capture(last)
    expected = grid_cell.renderer.render(grid_cell.views[last], grid_cell.lighting, np.random.default_rng(1))
    assert [d.box for d in render.defects] == [d.box for d in expected.defects]
    assert [d.box for d in grid_cell.capture(0).defects] != [d.box for d in render.defects]
    world = grid_cell.world_from_camera(last)
    assert np.allclose(np.linalg.inv(load_cell().part_to_world()) @ world, grid_cell.views[last].part_from_camera)


def test_camera_visible_means_visible_in_any_planned_view(grid_cell) -> None:
    truth = {d["id"]: d["camera_visible"] for d in grid_cell.ground_truth()["defects"]}
    per_view = [{d.defect_id for d in grid_cell.renderer.render(c, grid_cell.lighting, np.random.default_rng(0)).defects
                 if d.camera_visible} for c in grid_cell.views]
    assert {i for i, v in truth.items() if v} == set().union(*per_view)
    fixed = SimulatedCell(load_cell(), grid_cell.scene, WIDTH, HEIGHT, seed=7)  # the default plan: the cell camera
    assert len(fixed.views) == 1
    fixed_visible = {i for i, v in fixed.capture_visibility().items() if v}
    assert fixed_visible < {i for i, v in truth.items() if v}  # the grid sees strictly more of this part


def test_camera_resolvable_means_resolved_in_some_planned_view_with_its_best_figures(grid_cell) -> None:
    truth = {d["id"]: d for d in grid_cell.ground_truth()["defects"]}
    per_view = [grid_cell.renderer.render(c, grid_cell.lighting, np.random.default_rng(0)).defects
                for c in grid_cell.views]
    resolved = {d.defect_id for views in per_view for d in views if d.camera_resolvable}
    assert {i for i, d in truth.items() if d["camera_resolvable"]} == resolved
    for record in truth.values():
        assert not record["camera_resolvable"] or record["camera_visible"]  # resolvable is a kind of visible
        if record["camera_resolvable"]:  # the figures are those of a view that resolves it
            assert record["size_px"] >= RESOLVABLE_MIN_SIZE_PX and record["contrast_sigma"] >= RESOLVABLE_MIN_SIGMAS
