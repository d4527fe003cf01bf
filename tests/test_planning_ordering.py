"""Travel order (nearest neighbour + 2-opt) and the Noether-style pipeline plumbing."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inspection.geometry.surface import PartSurface
from inspection.planning.interfaces import (CompoundMeshModifier, Press, StageError, ToolPath,
                                            ToolPathPlannerPipeline, ToolPaths)
from inspection.planning.mesh_modifiers import OrientNormalsModifier
from inspection.planning.ordering import TravelOrderModifier, nearest_neighbour, path_length, shortest_order
from inspection.sim.shapes import sphere

START = np.zeros(3)


def _brute_force(points: np.ndarray) -> float:
    return min(path_length(points, np.array(p), START) for p in itertools.permutations(range(len(points))))


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(*[st.floats(-1, 1)] * 2), min_size=2, max_size=7, unique=True))
def test_two_opt_is_never_worse_than_nearest_neighbour_and_close_to_optimal(xy) -> None:
    points = np.column_stack([np.array(xy), np.zeros(len(xy))])
    order = shortest_order(points, START)
    assert sorted(order) == list(range(len(points)))
    nn = path_length(points, nearest_neighbour(points, START), START)
    best = path_length(points, order, START)
    assert best <= nn + 1e-9
    assert best <= 1.25 * _brute_force(points) + 1e-9


def test_two_opt_untangles_a_crossing() -> None:
    # Nearest neighbour from the origin zig-zags across this ladder; 2-opt must remove the crossings.
    points = np.array([[1, 0, 0], [1, 1, 0], [2, 0.1, 0], [2, 1, 0], [3, 0, 0], [3, 1, 0]], dtype=float)
    order = shortest_order(points, START)
    assert path_length(points, order, START) < path_length(points, nearest_neighbour(points, START), START) or \
        path_length(points, order, START) == pytest.approx(_brute_force(points))


def _press(x: float, region: str) -> Press:
    return Press((region,), np.array([x, 0.0, 0.0]), np.array([0.0, 0.0, 1.0]), np.array([1.0, 0.0, 0.0]))


def test_regions_are_visited_once_each_in_travel_order() -> None:
    paths = ToolPaths((ToolPath((_press(3.0, "far"), _press(3.1, "far")), ("far",)),
                       ToolPath((_press(1.1, "near"), _press(1.0, "near")), ("near",))))
    ordered = TravelOrderModifier(START).modify(paths)
    assert [p.regions[0] for p in ordered.presses] == ["near", "near", "far", "far"]
    assert [p.position[0] for p in ordered.presses] == [1.0, 1.1, 3.0, 3.1]


class _Failing:
    def plan(self, surface: PartSurface) -> ToolPaths:
        raise ValueError("bad geometry")


def test_pipeline_names_the_failing_stage_and_mesh_index() -> None:
    surface = PartSurface.from_arrays(*sphere(0.1, 2))
    pipeline = ToolPathPlannerPipeline(CompoundMeshModifier([OrientNormalsModifier()]), _Failing(),
                                       TravelOrderModifier(START))
    with pytest.raises(StageError, match=r"tool path planner _Failing failed on mesh 0: bad geometry"):
        pipeline.plan(surface)


def test_orienting_normals_is_idempotent_and_outward_on_a_closed_mesh() -> None:
    vertices, triangles = sphere(0.1, 2)
    inside_out = PartSurface.from_arrays(vertices, triangles[:, ::-1])
    once = OrientNormalsModifier().modify(inside_out)[0]
    twice = OrientNormalsModifier().modify(once)[0]
    assert np.array_equal(once.triangles, twice.triangles)
    outward = once.vertices - np.array([0.0, 0.0, -0.1])
    assert np.all(np.sum(once.vertex_normals * outward, axis=1) > 0)
