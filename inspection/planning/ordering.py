"""Tool-path modifier that orders regions and presses to shorten travel: nearest neighbour, 2-opt, Or-opt.

Tactile scanning is slow and every metre of transit is cycle time, so the order matters. The tour is
an open path from the robot's start point; distances are straight lines between press positions.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from inspection.planning.interfaces import ToolPath, ToolPaths


def path_length(points: np.ndarray, order: np.ndarray, start: np.ndarray | None = None) -> float:
    """Length of the open path visiting ``points`` in ``order`` (from ``start`` if given)."""
    route = points[order]
    if start is not None:
        route = np.vstack([start, route])
    return float(np.linalg.norm(np.diff(route, axis=0), axis=1).sum())


def nearest_neighbour(points: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Greedy tour: always go to the closest point not visited yet (ties go to the lower index)."""
    remaining = np.ones(len(points), dtype=bool)
    order = np.empty(len(points), dtype=np.int64)
    here = start
    for k in range(len(points)):
        distance = np.where(remaining, np.linalg.norm(points - here, axis=1), np.inf)
        nxt = int(np.argmin(distance))
        order[k], remaining[nxt], here = nxt, False, points[nxt]
    return order


def two_opt(points: np.ndarray, order: np.ndarray, start: np.ndarray, max_passes: int = 20) -> np.ndarray:
    """Reverse sub-paths while that shortens the open path; the start point stays fixed.

    Each pass looks, for every first edge i, at all second edges j at once (vectorised) and applies
    the best reversal found, so a pass costs O(n^2) arithmetic but only O(n) Python steps.
    """
    order = order.copy()
    n = len(order)
    if n < 3:
        return order
    for _ in range(max_passes):
        improved = False
        for i in range(n - 1):
            route = np.vstack([start, points[order]])  # route[k + 1] is the k-th press
            a, b = route[i], route[i + 1]
            c = route[i + 2:]  # candidate ends of the reversed block: order[i + 1 .. n - 1]
            d = np.vstack([route[i + 3:], np.full((1, 3), np.nan)])  # their successors (none after the last)
            old = np.linalg.norm(a - b) + np.nan_to_num(np.linalg.norm(c - d, axis=1))
            new = np.linalg.norm(a - c, axis=1) + np.nan_to_num(np.linalg.norm(b - d, axis=1))
            gain = old - new
            best = int(np.argmax(gain))
            if gain[best] > 1e-9:
                j = i + 1 + best  # reverse order[i .. j]
                order[i:j + 1] = order[i:j + 1][::-1]
                improved = True
        if not improved:
            break
    return order


def or_opt(points: np.ndarray, order: np.ndarray, start: np.ndarray) -> tuple[np.ndarray, bool]:
    """One pass of Or-opt: move runs of 1-3 presses (either way round) to where they cost least.

    2-opt cannot fix a point left behind by nearest neighbour (e.g. one press on the far side of the
    start); relocating it can.
    """
    order = list(order)
    n, improved = len(order), False
    for length in (1, 2, 3):
        i = 0
        while i + length <= n:
            route = np.vstack([start, points[order]])
            prev, first, last = route[i], route[i + 1], route[i + length]
            removed = np.linalg.norm(prev - first)
            if i + length < n:
                after = route[i + length + 1]
                removed += np.linalg.norm(last - after) - np.linalg.norm(prev - after)
            rest = np.vstack([route[: i + 1], route[i + length + 1:]])  # rest[0] is the start
            following = np.vstack([rest[1:], np.full((1, 3), np.nan)])
            base = np.nan_to_num(np.linalg.norm(rest - following, axis=1))
            to_next_from_last = np.nan_to_num(np.linalg.norm(following - last, axis=1))
            to_next_from_first = np.nan_to_num(np.linalg.norm(following - first, axis=1))
            forward = np.linalg.norm(rest - first, axis=1) + to_next_from_last - base
            backward = np.linalg.norm(rest - last, axis=1) + to_next_from_first - base
            cost = np.minimum(forward, backward)
            cost[i] = np.inf  # where it already is
            k = int(np.argmin(cost))
            if removed - cost[k] > 1e-9:
                run = order[i:i + length]
                if backward[k] < forward[k]:
                    run = run[::-1]
                rest_order = order[:i] + order[i + length:]
                order = rest_order[:k] + run + rest_order[k:]  # after rest[k], i.e. after rest_order[k - 1]
                improved = True
            else:
                i += 1
    return np.array(order, dtype=np.int64), improved


# Or-opt costs O(n^2) Python-level work per pass; above this many presses (full-coverage rasters,
# where nearest neighbour already follows the rows) only 2-opt passes refine the order.
OR_OPT_MAX_PRESSES = 500


def shortest_order(points: np.ndarray, start: np.ndarray, max_passes: int = 20) -> np.ndarray:
    """Nearest neighbour, then alternate 2-opt and Or-opt until neither helps (or ``max_passes``)."""
    order = nearest_neighbour(points, start)
    if len(points) > OR_OPT_MAX_PRESSES:
        return two_opt(points, order, start, min(max_passes, 3))
    for _ in range(max_passes):
        order = two_opt(points, order, start, max_passes)
        order, moved = or_opt(points, order, start)
        if not moved:
            break
    return order


@dataclass(frozen=True)
class TravelOrderModifier:
    """Orders the region groups (by centroid), then the presses inside each group, from ``start``."""

    start: np.ndarray
    max_passes: int = 20

    def modify(self, tool_paths: ToolPaths) -> ToolPaths:
        if not tool_paths.paths:
            return tool_paths
        centroids = np.array([p.centroid() for p in tool_paths.paths])
        group_order = shortest_order(centroids, np.asarray(self.start, dtype=float), self.max_passes)
        here = np.asarray(self.start, dtype=float)
        ordered = []
        for g in group_order:
            path: ToolPath = tool_paths.paths[g]
            positions = np.array([p.position for p in path.presses])
            order = shortest_order(positions, here, self.max_passes)
            ordered.append(replace(path, presses=tuple(path.presses[k] for k in order)))
            here = positions[order[-1]]
        return replace(tool_paths, paths=tuple(ordered))
