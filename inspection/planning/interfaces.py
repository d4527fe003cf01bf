"""Noether-style stages: one-method interfaces, compounds, and the pipeline that runs them.

``MeshModifier.modify`` -> ``ToolPathPlanner.plan`` (per mesh) -> ``ToolPathModifier.modify``.
A failing stage is re-raised as ``StageError`` naming the stage and the mesh index, so a user sees
which step broke on which input.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Protocol, Sequence

import numpy as np

from inspection.errors import InputError
from inspection.geometry.surface import PartSurface


@dataclass(frozen=True)
class Press:
    """One tactile press in the part frame.

    ``position`` is on the surface and ``normal`` is the outward surface normal there; the sensor
    axis (its +z, out of the gel) points along ``-normal``. ``x_axis`` is the footprint's width
    direction, tangent to the surface.
    """

    regions: tuple[str, ...]
    position: np.ndarray
    normal: np.ndarray
    x_axis: np.ndarray
    depth_m: float = 0.0
    approach_m: float = 0.0
    retreat_m: float = 0.0

    @property
    def approach_axis(self) -> np.ndarray:
        return -self.normal

    @property
    def y_axis(self) -> np.ndarray:
        """approach_axis x x_axis, written out: np.cross costs more than the IK step on 3-vectors."""
        (ax, ay, az), (bx, by, bz) = -self.normal, self.x_axis
        return np.array([ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx])

    def sensor_pose(self, offset_m: float = 0.0) -> np.ndarray:
        """4x4 part <- sensor with the gel ``offset_m`` above the surface (negative: pressed in)."""
        transform = np.eye(4)
        transform[:3, 0], transform[:3, 1], transform[:3, 2] = self.x_axis, self.y_axis, -self.normal
        transform[:3, 3] = self.position + self.normal * offset_m
        return transform


@dataclass(frozen=True)
class ToolPath:
    """The presses of one group of merged regions (or one raster chart), in execution order."""

    presses: tuple[Press, ...]
    regions: tuple[str, ...] = ()

    def centroid(self) -> np.ndarray:
        return np.mean([p.position for p in self.presses], axis=0)


@dataclass(frozen=True)
class ToolPaths:
    paths: tuple[ToolPath, ...] = ()
    # Regions that could not be given a press at all (e.g. the whole region lies over a hole).
    uncovered: tuple[tuple[str, str], ...] = field(default=())
    # Regions left unpressed by choice (the press budget, planning.doubt), with the reason.
    skipped: tuple[tuple[str, str], ...] = field(default=())

    @property
    def presses(self) -> list[Press]:
        return [p for path in self.paths for p in path.presses]


class StageError(InputError):
    """A pipeline stage failed; the message names the stage and the mesh index."""


class MeshModifier(Protocol):
    def modify(self, surface: PartSurface) -> list[PartSurface]:
        """Return the meshes to plan on (usually one)."""


class ToolPathPlanner(Protocol):
    def plan(self, surface: PartSurface) -> ToolPaths:
        """Return presses over ``surface``."""


class ToolPathModifier(Protocol):
    def modify(self, tool_paths: ToolPaths) -> ToolPaths:
        """Return changed tool paths (order, stand-offs, ...)."""


@dataclass(frozen=True)
class CompoundMeshModifier:
    modifiers: Sequence[MeshModifier] = ()

    def modify(self, surface: PartSurface) -> list[PartSurface]:
        surfaces = [surface]
        for modifier in self.modifiers:
            surfaces = [out for s in surfaces for out in modifier.modify(s)]
        return surfaces


@dataclass(frozen=True)
class CompoundToolPathModifier:
    modifiers: Sequence[ToolPathModifier] = ()

    def modify(self, tool_paths: ToolPaths) -> ToolPaths:
        for modifier in self.modifiers:
            tool_paths = modifier.modify(tool_paths)
        return tool_paths


def _stage_name(stage: object) -> str:
    return type(stage).__name__


@dataclass(frozen=True)
class ToolPathPlannerPipeline:
    """Mesh modifier, then the planner on every resulting mesh, then the tool-path modifier."""

    mesh_modifier: MeshModifier
    planner: ToolPathPlanner
    tool_path_modifier: ToolPathModifier

    def modify_mesh(self, surface: PartSurface) -> list[PartSurface]:
        try:
            return self.mesh_modifier.modify(surface)
        except Exception as exc:
            raise StageError(f"mesh modifier {_stage_name(self.mesh_modifier)} failed on mesh 0 "
                             f"({surface.name}): {exc}") from exc

    def plan(self, surface: PartSurface, modified: list[PartSurface] | None = None) -> list[ToolPaths]:
        """Run all stages; ``modified`` skips the mesh modifier when its output is already known."""
        surfaces = modified if modified is not None else self.modify_mesh(surface)
        results = []
        for index, mesh in enumerate(surfaces):
            try:
                planned = self.planner.plan(mesh)
            except Exception as exc:
                raise StageError(f"tool path planner {_stage_name(self.planner)} failed on mesh {index}: "
                                 f"{exc}") from exc
            try:
                results.append(self.tool_path_modifier.modify(planned))
            except Exception as exc:
                raise StageError(f"tool path modifier {_stage_name(self.tool_path_modifier)} failed on mesh "
                                 f"{index}: {exc}") from exc
        return results


@dataclass(frozen=True)
class StandoffModifier:
    """Sets press depth and approach/retreat stand-offs on every press (tool-path modifier)."""

    depth_m: float
    approach_m: float
    retreat_m: float
    max_depth_m: float

    def modify(self, tool_paths: ToolPaths) -> ToolPaths:
        if not (0 < self.depth_m <= self.max_depth_m):
            raise ValueError(f"press depth {self.depth_m} m is outside (0, {self.max_depth_m}] m")
        paths = tuple(
            replace(path, presses=tuple(replace(p, depth_m=self.depth_m, approach_m=self.approach_m,
                                                retreat_m=self.retreat_m) for p in path.presses))
            for path in tool_paths.paths
        )
        return replace(tool_paths, paths=paths)
