"""The whole simulated cell in one object: part with defects, camera, arm and tactile sensor.

ROS-free, so the sim node, the demo and the evaluation campaign drive the same simulation. The arm
follows joint trajectories in time; whenever the tactile sensor rests pressed into the part (the
dwell of a press), one tactile frame is rendered from the true surface under the gel: the part mesh
ray cast along the sensor axis plus every defect's displacement.

The camera follows a view plan (``inspection.sim.views.view_plan``): the fixed cell camera, or a grid of
normal views that covers a part larger than one image. ``capture(k)`` renders view k; the ground truth
calls a defect ``camera_visible`` when any planned view shows it, since that is what Stage I can find,
and ``camera_resolvable`` when any planned view resolves it (large and contrasted enough above the
sensor noise, ``inspection.sim.render``), with the size (px) and contrast (noise sigmas) of its best view.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from inspection.cell import CellConfig
from inspection.sim.camera import Camera
from inspection.sim.defects import Defect
from inspection.sim.lighting import Lighting
from inspection.sim.render import DefectView, Render, Renderer
from inspection.sim.robot import SimulatedRobot
from inspection.sim.scene import Scene
from inspection.sim.tactile_sensor import TactileFrame, TactileSimulator, gel_grid
from inspection.sim.views import view_plan

NO_HIT_GAP_M = 0.01  # gel pixels whose ray misses the part (over an edge) see nothing within reach


@dataclass(frozen=True)
class PressEvent:
    """A tactile frame taken while the sensor rested pressed into the part."""

    index: int
    time_s: float
    sensor_to_part: np.ndarray
    depth_m: float
    frame: TactileFrame


class SimulatedCell:
    def __init__(self, cell: CellConfig, scene: Scene, width: int | None = None, height: int | None = None,
                 lighting: Lighting | None = None, seed: int = 0, views: str = "fixed", view_overlap: float = 0.2,
                 ) -> None:
        self.cell = cell
        self.scene = scene
        self.camera = Camera.from_cell(cell, width, height)  # the cell camera; every view shares its lens
        self.views = view_plan(views, scene.part, self.camera, view_overlap)
        self._defect_views: dict[int, list[DefectView]] = {}  # planned view -> what it shows of each defect
        self._burst_views: dict[int, list[list[DefectView]]] = {}  # the same for each image of a view's burst
        self.lighting = lighting or Lighting.default()
        self.renderer = Renderer(scene)
        self.robot = SimulatedRobot(cell)
        self.tactile = TactileSimulator(cell.tactile)
        self.rng = np.random.default_rng(seed)
        # The bursts' sensor noise has a stream of its own, so the ring-lit frames are the same with or without them.
        self._burst_rng = np.random.default_rng([seed, 1])
        gx, gy = gel_grid(cell.tactile)
        self._gel_xy = np.stack([gx.ravel(), gy.ravel()], axis=1)
        self._in_contact = False
        self._stepped_s = -np.inf  # the last step's time
        self.presses = 0

    def capture(self, view: int = 0) -> Render:
        """One camera image of the part from planned view ``view`` (view 0 of a fixed plan: the cell camera)."""
        render = self.renderer.render(self.views[view], self.lighting, self.rng)
        self._defect_views[view] = render.defects
        return render

    def capture_burst(self, view: int = 0) -> np.ndarray:
        """The photometric-stereo burst of planned view ``view``: (H, W, N) 8-bit grey, one image per flash of
        cell.yaml's ``camera.photometric`` in its order, exposure locked over the burst. What the burst shows
        of each defect counts towards the ground truth's visibility and resolvability, as the ring-lit
        capture's does."""
        rig = self.cell.camera.photometric
        if rig is None:
            raise ValueError("cell.yaml camera.photometric: this camera has no photometric-stereo lights")
        lightings = [self.lighting.with_flash(offset) for offset in rig.light_positions()]
        renders = self.renderer.render_burst(self.views[view], lightings, self._burst_rng)
        self._burst_views[view] = [render.defects for render in renders]
        return np.stack([cv2.cvtColor(render.image, cv2.COLOR_RGB2GRAY) for render in renders], axis=2)

    def burst_defect_views(self, view: int) -> list[list[DefectView]]:
        """What each image of view ``view``'s last captured burst shows of each defect, in flash order (the
        labels of a burst, as ``capture(view).defects`` are a ring-lit frame's)."""
        if view not in self._burst_views:
            raise ValueError(f"view {view}: no burst captured yet (call capture_burst({view}) first)")
        return self._burst_views[view]

    def world_from_camera(self, view: int) -> np.ndarray:
        """Pose (4x4) of view ``view``'s optical frame in the world, as the cell's camera driver reports it."""
        return self.cell.part_to_world() @ self.views[view].part_from_camera

    def background_frame(self) -> np.ndarray:
        return self.tactile.background(self.rng)

    def gap_under_gel(self, sensor_to_part: np.ndarray) -> tuple[np.ndarray, list[Defect], list[np.ndarray]]:
        """Signed distance (m) from each gel pixel along the sensor axis to the part surface with
        defects (negative: pressed in), the geometric defects under the gel and their displacement."""
        axis = sensor_to_part[:3, 2]
        origins = (self._gel_xy[:, :1] * sensor_to_part[:3, 0] + self._gel_xy[:, 1:] * sensor_to_part[:3, 1]
                   + sensor_to_part[:3, 3])
        # Start each ray a little behind the gel so surfaces already pressed past it are still hit.
        back = 0.01
        t_hit = self._surface_distances(origins - back * axis, axis) - back
        hit = np.isfinite(t_hit)
        points = origins + np.where(hit, t_hit, 0.0)[:, None] * axis
        shape = (self.cell.tactile.height_px, self.cell.tactile.width_px)
        per_defect = []
        gap = np.where(hit, t_hit, NO_HIT_GAP_M)
        for defect in self.scene.defects:
            if not defect.is_geometric:
                continue
            height = np.where(hit, defect.height_at(points), 0.0)
            if np.any(height):
                # A raised surface meets the gel earlier: the gap shrinks by the height along the axis.
                gap = gap - height * max(float(-axis @ np.asarray(defect.normal)), 0.0)
                per_defect.append((defect, height.reshape(shape)))
        return gap.reshape(shape), [d for d, _ in per_defect], [h for _, h in per_defect]

    def press_depth(self, sensor_to_part: np.ndarray) -> float:
        """How far the gel centre is pressed into the nominal surface (m); negative when clear of it."""
        axis, origin = sensor_to_part[:3, 2], sensor_to_part[:3, 3]
        t_hit = float(self._surface_distances(origin[None] - 0.01 * axis, axis)[0])
        return 0.01 - t_hit if np.isfinite(t_hit) else -np.inf

    def _surface_distances(self, origins: np.ndarray, axis: np.ndarray) -> np.ndarray:
        """Distance along ``axis`` from each origin to the part's surface (inf on a miss).

        The mesh's facets stay within 0.1 mm of a parametric part's surface, which no camera pixel
        resolves but the gel does: pressed onto the facets, it showed every crease between them as a
        ridge tens of micrometres high, which Stage II rightly called a bump (on a leading edge's nose,
        a false finding at most presses). So the ray is cast on the mesh and then carried to the smooth
        surface: to the tangent plane of the analytic surface at the (u, v) of the hit, interpolated
        from the facet's corners, which is exact to well under a micrometre at these facet sizes. A
        loaded mesh has no smoother surface than itself."""
        part = self.scene.part
        t_hit, facets = part.first_hits(origins, axis)
        hit = np.isfinite(t_hit)
        if part.vertex_uv is None or not hit.any():
            return t_hit
        corners = part.triangles[facets[hit]]
        points = origins[hit] + t_hit[hit, None] * axis
        a, b, c = (part.vertices[corners[:, k]] for k in range(3))
        e1, e2, to_point = b - a, c - a, points - a
        d11, d12, d22 = np.einsum("ij,ij->i", e1, e1), np.einsum("ij,ij->i", e1, e2), np.einsum("ij,ij->i", e2, e2)
        p1, p2 = np.einsum("ij,ij->i", to_point, e1), np.einsum("ij,ij->i", to_point, e2)
        det = d11 * d22 - d12 * d12
        w1, w2 = (d22 * p1 - d12 * p2) / det, (d11 * p2 - d12 * p1) / det
        uv = ((1.0 - w1 - w2)[:, None] * part.vertex_uv[corners[:, 0]] + w1[:, None] * part.vertex_uv[corners[:, 1]]
              + w2[:, None] * part.vertex_uv[corners[:, 2]])
        smooth, normals, _ = part.surface(uv[:, 0], uv[:, 1])
        along = normals @ axis
        t_hit[hit] += np.where(np.abs(along) > 1e-3, np.einsum("ij,ij->i", smooth - points, normals) / along, 0.0)
        return t_hit

    def halt(self, at_s: float) -> None:
        """Emergency stop: the arm holds where it was at ``at_s`` (stop category 0: at once, no ramp)."""
        state = self.robot.state(at_s)
        self.robot.start(self.robot.joint_names, state.positions[None], np.zeros(1), at_s)

    def step(self, now_s: float) -> list[PressEvent]:
        """Advance the arm to ``now_s``; a tactile frame once per dwell pressed into the part. The
        trajectory's points since the last step are sampled too, so a late step on a loaded machine
        loses no press (the real sensor would have taken it) and no contact's end."""
        passed = self.robot.knots_between(self._stepped_s, now_s)
        self._stepped_s = now_s
        events = [self._sample(t) for t in passed + [now_s]]
        return [event for event in events if event is not None]

    def _sample(self, now_s: float) -> PressEvent | None:
        """The arm at ``now_s``: a press event when it has just come to rest pressed into the part."""
        state = self.robot.state(now_s)
        sensor_to_part = self.robot.kinematics.sensor_pose(state.positions)
        depth = self.press_depth(sensor_to_part)
        resting = float(np.max(np.abs(state.velocities))) < 1e-6
        if depth < 0.25 * self.cell.tactile.press_depth_m:
            self._in_contact = False
            return None
        if self._in_contact or not resting:
            return None
        self._in_contact = True
        depth = min(depth, self.cell.tactile.max_press_depth_m)
        gap, defects, heights = self.gap_under_gel(sensor_to_part)
        frame = self.tactile.press(gap, depth, self.rng, defects, defect_heights=heights)
        event = PressEvent(self.presses, now_s, sensor_to_part, depth, frame)
        self.presses += 1
        return event

    def ground_truth(self) -> dict[str, Any]:
        """The scene's ground truth (part, defects) with the camera visibility and resolvability of each
        defect, and the size (px) and contrast (sensor noise sigmas) of the view that shows it best."""
        record = self.scene.to_json()
        best = self.best_views()
        for defect in record["defects"]:
            view = best.get(defect["id"])
            defect["camera_visible"] = view is not None and view.camera_visible
            defect["camera_resolvable"] = view is not None and view.camera_resolvable
            defect["size_px"] = view.size_px if view is not None else 0
            defect["contrast_sigma"] = round(view.contrast_sigma, 2) if view is not None else 0.0
        return record

    def capture_visibility(self) -> dict[str, bool]:
        """Defect id -> visible in at least one planned view."""
        return {defect_id: view.camera_visible for defect_id, view in self.best_views().items()}

    def defect_views(self, view: int) -> list[DefectView]:
        """What planned view ``view`` shows of each defect: from its capture, else rendered once here (one
        render, so a caller can spread the ground truth over several short steps)."""
        if view not in self._defect_views:
            self._defect_views[view] = self.renderer.render(self.views[view], self.lighting,
                                                            np.random.default_rng(0)).defects
        return self._defect_views[view]

    def best_views(self) -> dict[str, DefectView]:
        """Defect id -> what the planned view that shows it best shows of it: resolvable before visible
        before neither, then the higher contrast.

        Visibility does not depend on the sensor noise, so a view already captured is not rendered again;
        the others are rendered once (with a fixed noise seed, leaving the capture noise stream alone). A view
        whose photometric burst was captured counts what each of its images shows too."""
        best: dict[str, DefectView] = {}
        for index in range(len(self.views)):
            for view in self.defect_views(index) + [v for image in self._burst_views.get(index, []) for v in image]:
                held = best.get(view.defect_id)
                if held is None or _rank(view) > _rank(held):
                    best[view.defect_id] = view
        return best


def _rank(view: DefectView) -> tuple[bool, bool, float, int]:
    return view.camera_resolvable, view.camera_visible, view.contrast_sigma, view.size_px
