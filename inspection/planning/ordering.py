"""Tool-path modifier that orders regions and presses to shorten travel: nearest neighbour, then 2-opt.

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


def shortest_order(points: np.ndarray, start: np.ndarray, max_passes: int = 20) -> np.ndarray:
    return two_opt(points, nearest_neighbour(points, start), start, max_passes)


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
