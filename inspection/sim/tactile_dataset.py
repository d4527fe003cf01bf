"""Labelled tactile datasets: random presses of the simulated GelSight Mini over every geometric
defect class and clean contacts, or ball presses for calibration. Same seed -> same bytes.

Presses may be of textured parts (``TexturedParts``: threads, machining marks, rivet heads, seams,
orange peel from ``inspection.sim.tactile_texture``), off-centre, or clipped by a part edge; the texture
is good surface, the defect (if any) is the only fault. A defect dataset also holds ``good/`` (clean
presses) and ``fault/`` (presses whose defect the gel touches) with the same frames as PNG, the layout
of a real recording, for `inspection eval tactile --reference`.

The folder layout, and its reader, are in ``inspection.datasets.tactile``.
"""
from __future__ import annotations

import dataclasses
import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from inspection.atomic import staged_folder, write_bytes_atomic, write_json_atomic
from inspection.cell import TactileConfig
from inspection.datasets.tactile import HEIGHT_PNG_UNIT_MM
from inspection.errors import InputError
from inspection.geometry.surface import PartSurface
from inspection.records import TACTILE_CLASSES
from inspection.sim.defects import Defect, random_defect
from inspection.sim.shapes import grid_triangles
from inspection.sim.tactile_optics import SensorOptics
from inspection.sim.tactile_sensor import LocalSurface, TactileFrame, TactileSimulator, ball_gap, surface_gap
from inspection.sim.tactile_texture import PartEdge, Rivets, Texture, random_edge, random_texture, texture_label

MAX_DEFECT_EXTENT_M = 0.010  # dents and bumps larger than this do not fit under the 18.6 x 13.9 mm gel
# A defect is felt when the gel itself moves by at least this share of its depth and this much because of
# it (a defect in a thread root, beyond a part edge or narrower than the membrane may not be felt at all;
# no method can find it in the frame, so it is not a fault frame for anomaly evaluation).
FELT_SHARE, FELT_MIN_MM = 0.25, 0.005


def defect_felt(label: dict[str, Any], press_depth_mm: float) -> bool:
    """Whether the gel moves enough because of the defect of ``label`` (a defect_label record); the gel
    can sink no further than it is pressed, so a hole deeper than the press counts as that deep."""
    felt = label["felt_depth_mm"]
    return felt >= FELT_MIN_MM and felt >= FELT_SHARE * min(label["depth_mm"], press_depth_mm)
# Presses of one part (TexturedParts.part_seed) turn the sensor by at most this much about its axis: the
# planner presses a part in one orientation, give or take the surface's own turn.
PART_ROTATION_JITTER_RAD = math.radians(5.0)


def _png(image: np.ndarray) -> bytes:
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    ok, data = cv2.imencode(".png", bgr)
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return data.tobytes()


def sensor_pose(rotation_rad: float, height_m: float = 0.001) -> np.ndarray:
    """Sensor-to-part transform above the part origin, sensor +z along -part z, turned about the axis."""
    c, s = math.cos(rotation_rad), math.sin(rotation_rad)
    pose = np.eye(4)
    pose[:3, :3] = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]) @ np.diag([1.0, -1.0, -1.0])
    pose[2, 3] = height_m
    return pose


def random_surface(rng: np.random.Generator) -> LocalSurface:
    """Flat a quarter of the time, else a cylinder: convex 25-500 mm (leading edges to skins) or concave."""
    angle = rng.uniform(0, np.pi)
    axis = (math.cos(angle), math.sin(angle), 0.0)
    draw = rng.uniform()
    if draw < 0.25:
        return LocalSurface(axis=axis)
    if draw < 0.8:
        return LocalSurface(axis=axis, radius_m=float(np.exp(rng.uniform(np.log(0.025), np.log(0.5)))))
    return LocalSurface(axis=axis, radius_m=-float(np.exp(rng.uniform(np.log(0.15), np.log(1.0)))))


def _fit_under_gel(defect: Defect) -> Defect:
    if defect.class_name in ("dent", "bump") and defect.length_m > MAX_DEFECT_EXTENT_M:
        scale = MAX_DEFECT_EXTENT_M / defect.length_m
        return dataclasses.replace(defect, length_m=defect.length_m * scale, width_m=defect.width_m * scale,
                                   depth_m=defect.depth_m * scale)
    return defect


@dataclass
class PressScene:
    """Everything random about one press, kept for its label."""

    class_name: str
    surface: LocalSurface
    pose: np.ndarray
    press_depth_m: float
    drift: tuple[float, float, float]
    contrast: float
    defects: list[Defect]
    texture: Texture | None = None
    edge: PartEdge | None = None


@dataclass(frozen=True)
class TexturedPart:
    """A good part's texture, its local surface and the sensor's turn about its axis on it."""

    texture: Texture | None  # None: a smooth part
    surface: LocalSurface
    rotation_rad: float


def random_textured_part(rng: np.random.Generator, kind: str) -> TexturedPart:
    """A part of texture ``kind``: threads on a rod (convex, radius 3-12 mm), the rest on random_surface."""
    texture = random_texture(rng, kind)
    if kind == "thread":
        angle = rng.uniform(0, np.pi)
        surface = LocalSurface(axis=(math.cos(angle), math.sin(angle), 0.0), radius_m=float(rng.uniform(0.003, 0.012)))
    else:
        surface = random_surface(rng)
    return TexturedPart(texture, surface, float(rng.uniform(0, 2 * np.pi)))


@dataclass(frozen=True)
class TexturedParts:
    """Presses of textured parts: each press draws one of ``kinds``. With ``part_seed`` every press of a
    kind is of one part (texture, surface and orientation drawn once from that seed, as a cell presses
    one part type), else each press is of a new random part. A share of presses is off-centre (the
    sensor shifted by up to 70 % of its half-footprint: the contact runs into the sensor's edge), a share
    is clipped by a part edge."""

    kinds: tuple[str, ...]
    part_seed: int | None = None
    off_centre_share: float = 0.3
    edge_share: float = 0.2

    def fixed_parts(self) -> dict[str, TexturedPart] | None:
        if self.part_seed is None:
            return None
        rng = np.random.default_rng(self.part_seed)
        return {kind: random_textured_part(rng, kind) for kind in self.kinds}

    def label(self) -> dict[str, Any]:
        return {"kinds": list(self.kinds), "part_seed": self.part_seed, "off_centre_share": self.off_centre_share,
                "edge_share": self.edge_share}


def _textured_setup(rng: np.random.Generator, config: TactileConfig, textured: TexturedParts,
                    parts: dict[str, TexturedPart] | None) -> tuple[TexturedPart, np.ndarray, PartEdge | None]:
    """One press's part, sensor pose (turned and shifted) and part edge."""
    kind = textured.kinds[int(rng.integers(len(textured.kinds)))]
    if parts is None:
        part, rotation = random_textured_part(rng, kind), None
    else:
        part = parts[kind]
        rotation = part.rotation_rad + float(rng.uniform(-PART_ROTATION_JITTER_RAD, PART_ROTATION_JITTER_RAD))
    pose = sensor_pose(part.rotation_rad if rotation is None else rotation)
    half = np.asarray(config.footprint_m, float) / 2
    reach = 0.7 * half if rng.uniform() < textured.off_centre_share else np.array([0.001, 0.001])
    pose[:2, 3] += rng.uniform(-1.0, 1.0, 2) * reach
    edge = random_edge(rng) if rng.uniform() < textured.edge_share else None
    return part, pose, edge


def sample_scene(rng: np.random.Generator, class_name: str, config: TactileConfig,
                 optics: SensorOptics | None = None, textured: TexturedParts | None = None,
                 parts: dict[str, TexturedPart] | None = None,
                 membrane_length_m: float = 0.0) -> tuple[PressScene, TactileFrame]:
    """A random press showing ``class_name`` ("none": a clean contact) well inside the contact; of a
    textured part when ``textured`` is given (``parts``: its fixed parts, from ``textured.fixed_parts()``)."""
    texture, edge = None, None
    if textured is None:
        surface = random_surface(rng)
        pose = sensor_pose(rng.uniform(0, 2 * np.pi))
    else:
        part, pose, edge = _textured_setup(rng, config, textured, parts)
        surface, texture = part.surface, part.texture
    drift = tuple(float(v) for v in 1.0 + rng.normal(0.0, 0.02, 3))
    contrast = float(rng.uniform(0.85, 1.05))
    axis, across, normal = surface.frame()
    for attempt in range(8):
        press = float(rng.uniform(0.0003, 0.0012))
        if isinstance(texture, Rivets):  # press past a proud head now and then, onto the skin around it
            press = min(press + texture.height_m * float(rng.uniform(0.0, 1.3)), 0.0019)
        defects: list[Defect] = []
        if class_name != "none":
            spread = 0.004 if attempt < 4 else 0.001
            centre = rng.uniform(-spread, spread) * axis + rng.uniform(-spread, spread) * across
            defect = _fit_under_gel(random_defect(rng, class_name, "d0", centre, normal, axis))
            defects.append(defect)
            if not defect.is_hole:  # press past a shallow defect's bottom; no press reaches a hole's
                press = max(press, min(defect.depth_m + 0.0002, 0.0018))
        scene = PressScene(class_name, surface, pose, press, drift, contrast, defects, texture, edge)
        frame = render_scene(scene, config, rng, optics, membrane_length_m)
        if class_name == "none" or frame.defects[0]["contact_fraction"] >= 0.6 \
                or (membrane_length_m > 0 and defect_felt(frame.defects[0], press * 1e3)):
            return scene, frame
    return scene, frame


def render_scene(scene: PressScene, config: TactileConfig, rng: np.random.Generator,
                 optics: SensorOptics | None = None, membrane_length_m: float = 0.0) -> TactileFrame:
    gap, per_defect = surface_gap(config, scene.pose, scene.surface, scene.defects, scene.texture, scene.edge)
    simulator = TactileSimulator(config, optics, membrane_length_m)
    return simulator.press(gap, scene.press_depth_m, rng, scene.defects, drift=scene.drift,
                           contrast=scene.contrast, defect_heights=per_defect)


def pressed_pose(scene: PressScene, frame: TactileFrame) -> np.ndarray:
    """Sensor-to-part transform when the frame is taken: moved along +z to first touch, then the press."""
    pose = np.array(scene.pose, float)
    pose[:3, 3] += pose[:3, 2] * (frame.first_touch_m + scene.press_depth_m)
    return pose


# The part's mesh around a press reaches past the gel however far the press is shifted off-centre.
LOCAL_MESH_HALF_SIZE_M, LOCAL_MESH_STEP_M = 0.02, 0.0005


def local_part_mesh(scene: PressScene) -> PartSurface:
    """The part's mesh around a press, as the cell's CAD model gives it: the nominal surface (no texture
    or defect) up to the part's edge (its rounding left out) and, on a rod, up to its silhouette."""
    axis, across, normal = scene.surface.frame()
    side_limit = LOCAL_MESH_HALF_SIZE_M
    radius = scene.surface.radius_m
    if radius is not None and math.isfinite(radius) and radius > 0:
        side_limit = min(side_limit, 0.98 * radius)  # a rod's upper half: beside it the gel meets nothing
    count = int(round(2 * LOCAL_MESH_HALF_SIZE_M / LOCAL_MESH_STEP_M)) + 1
    along, side = np.meshgrid(np.linspace(-LOCAL_MESH_HALF_SIZE_M, LOCAL_MESH_HALF_SIZE_M, count),
                              np.linspace(-side_limit, side_limit, count), indexing="ij")
    if scene.edge is not None:
        along, side = scene.edge.clip(along, side)
    points = (np.asarray(scene.surface.center) + along[..., None] * axis + side[..., None] * across
              + scene.surface.offset(side)[..., None] * normal).reshape(-1, 3)
    # Along-major, so wound counter-clockwise seen from outside (+along x +side = +normal); triangles
    # wholly beyond the edge are clipped to zero area and dropped.
    return PartSurface.from_arrays(points, grid_triangles(count, count), "local part")


def scene_label(scene: PressScene, frame: TactileFrame, name: str) -> dict[str, Any]:
    radius = scene.surface.radius_m
    return {
        "frame": f"frames/{name}.png",
        "class_name": scene.class_name,
        "press_depth_mm": round(scene.press_depth_m * 1e3, 6),
        "surface": {"radius_mm": None if radius is None else round(radius * 1e3, 4),
                    "axis": [round(v, 6) for v in scene.surface.axis]},
        "sensor_to_part": np.round(pressed_pose(scene, frame), 9).tolist(),  # at the moment of the frame
        "drift": [round(v, 5) for v in scene.drift],
        "contrast": round(scene.contrast, 5),
        "contact_px": int(frame.contact.sum()),
        "defects": frame.defects,
        "defects_part_frame": [d.ground_truth() for d in scene.defects],
        "texture": texture_label(scene.texture),
        "part_edge": None if scene.edge is None else scene.edge.label(),
    }


def _write_truth(root: Path, name: str, frame: TactileFrame) -> None:
    height = np.clip(np.rint(frame.height_m * 1e3 / HEIGHT_PNG_UNIT_MM), 0, 65535).astype(np.uint16)
    write_bytes_atomic(root / "truth" / f"{name}_height.png", _png(height))
    write_bytes_atomic(root / "truth" / f"{name}_contact.png", _png(frame.contact.astype(np.uint8) * 255))


@dataclass(frozen=True)
class PressOptions:
    """How defect presses are drawn: of textured parts or smooth ones, the share of clean presses (None:
    every class of TACTILE_CLASSES equally often) and the gel's membrane bending length (0: none)."""

    textured: TexturedParts | None = None
    clean_share: float | None = None
    membrane_length_m: float = 0.0

    def check(self) -> None:
        if self.clean_share is not None and not 0.0 <= self.clean_share <= 1.0:
            raise InputError(f"--clean-share: {self.clean_share} is outside 0-1")


def write_dataset(root: str | Path, frames: int, seed: int, config: TactileConfig,
                  ball_radius_m: float | None = None, progress: bool = True,
                  optics: SensorOptics | None = None, presses: PressOptions = PressOptions()) -> dict[str, Any]:
    """Write ``frames`` labelled presses (or ball presses when ``ball_radius_m`` is set) to ``root``, a new
    or empty folder: an earlier dataset there is never overwritten frame by frame, nor mixed with this one."""
    if frames < 1:
        raise InputError(f"--frames: need at least 1 frame, got {frames}")
    if ball_radius_m is not None and not (0.0005 <= ball_radius_m <= 0.05):
        raise InputError(f"--ball: radius {ball_radius_m * 1e3:.3f} mm is outside 0.5-50 mm")
    presses.check()
    with staged_folder(root) as staging:  # a new or empty folder; a crash leaves no half dataset
        return _write_frames(staging, frames, seed, config, ball_radius_m, progress, optics, presses)


def _same_file(source: Path, target: Path) -> None:
    """``target`` holds ``source``'s bytes: a hard link (no second copy on disk), else a copy."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _anomaly_split(label: dict[str, Any]) -> str:
    """"good" (a clean press), "fault" (its defect is felt) or "not_felt" (no method could find it)."""
    if label["class_name"] == "none":
        return "good"
    return "fault" if any(defect_felt(d, label["press_depth_mm"]) for d in label["defects"]) else "not_felt"


def _write_frames(root: Path, frames: int, seed: int, config: TactileConfig, ball_radius_m: float | None,
                  progress: bool, optics: SensorOptics | None, presses: PressOptions) -> dict[str, Any]:
    from inspection.progress import progress_bar

    rng = np.random.default_rng(seed)
    simulator = TactileSimulator(config, optics, presses.membrane_length_m)
    write_bytes_atomic(root / "background.png", _png(simulator.background(rng)))
    names = []
    split: dict[str, list[str]] = {"good": [], "fault": [], "not_felt": []}
    parts = presses.textured.fixed_parts() if presses.textured is not None else None
    balanced = presses.clean_share is None
    order = list(TACTILE_CLASSES) if balanced else [c for c in TACTILE_CLASSES if c != "none"]
    defect_index = 0
    for index in progress_bar(range(frames), desc="tactile frames", unit="frame", enabled=progress):
        name = f"{index:06d}"
        if ball_radius_m is None:
            if balanced:
                if index % len(order) == 0:
                    rng.shuffle(order)  # balanced classes in every block, random order inside it
                class_name = order[index % len(order)]
            elif rng.uniform() < presses.clean_share:
                class_name = "none"
            else:
                if defect_index % len(order) == 0:
                    rng.shuffle(order)
                class_name, defect_index = order[defect_index % len(order)], defect_index + 1
            scene, frame = sample_scene(rng, class_name, config, optics, presses.textured, parts,
                                        presses.membrane_length_m)
            label = scene_label(scene, frame, name)
        else:
            frame, label = _ball_press(rng, simulator, config, ball_radius_m, name)
        write_bytes_atomic(root / "frames" / f"{name}.png", _png(frame.image))
        write_json_atomic(root / "labels" / f"{name}.json", label)
        _write_truth(root, name, frame)
        if ball_radius_m is None:
            kind = _anomaly_split(label)
            split[kind].append(name)
            if kind != "not_felt":  # the layout of a real recording, for `inspection eval tactile --reference`
                _same_file(root / "frames" / f"{name}.png", root / kind / f"{name}.png")
        names.append(name)
    meta = {
        "kind": "ball" if ball_radius_m is not None else "defects",
        "seed": seed, "frames": names, "classes": list(TACTILE_CLASSES),
        "ball_radius_mm": None if ball_radius_m is None else ball_radius_m * 1e3,
        "sensor": {"width_px": config.width_px, "height_px": config.height_px, "pixel_size_m": config.pixel_size_m},
        "height_png_unit_mm": HEIGHT_PNG_UNIT_MM,
        "marker_pitch_px": simulator.optics.marker_pitch_px,
        "membrane_length_mm": presses.membrane_length_m * 1e3,
        "textured": None if presses.textured is None else presses.textured.label(),
        "clean_share": presses.clean_share,
    }
    if ball_radius_m is None:
        meta["anomaly_split"] = split
    write_json_atomic(root / "dataset.json", meta)
    return meta


def _ball_press(rng: np.random.Generator, simulator: TactileSimulator, config: TactileConfig,
                ball_radius_m: float, name: str) -> tuple[TactileFrame, dict[str, Any]]:
    press = float(rng.uniform(0.25, 0.6) * min(ball_radius_m, 0.0025))
    contact_radius = math.sqrt(2 * ball_radius_m * press - press * press)
    half_w, half_h = config.footprint_m[0] / 2, config.footprint_m[1] / 2
    margin = contact_radius * 1.5 + 0.0005
    centre = (float(rng.uniform(-half_w + margin, half_w - margin)) if half_w > margin else 0.0,
              float(rng.uniform(-half_h + margin, half_h - margin)) if half_h > margin else 0.0)
    drift = tuple(float(v) for v in 1.0 + rng.normal(0.0, 0.01, 3))
    frame = simulator.press(ball_gap(config, centre, ball_radius_m), press, rng, drift=drift)
    px = config.pixel_size_m
    label = {
        "frame": f"frames/{name}.png", "class_name": "ball", "ball_radius_mm": ball_radius_m * 1e3,
        "press_depth_mm": round(press * 1e3, 6),
        "center_px": [round(centre[0] / px + (config.width_px - 1) / 2, 4),
                      round(centre[1] / px + (config.height_px - 1) / 2, 4)],
        "contact_radius_px": round(contact_radius / px, 4), "contact_px": int(frame.contact.sum()),
    }
    return frame, label


def simulated_calibration(config: TactileConfig, ball_radius_m: float, presses: int, seed: int,
                          optics=None, bins: int = 64):
    """Calibrate in memory from simulated ball presses, through the same steps as real frames."""
    from inspection.tactile.calibration import LOOKUP_SMOOTHING_PX, ball_samples, build_table, detect_ball
    from inspection.tactile.difference import BackgroundModel, normalized_difference

    rng = np.random.default_rng(seed)
    simulator = TactileSimulator(config, optics)
    model = BackgroundModel.from_frame(simulator.background(rng))
    colours, slopes = [], []
    for index in range(presses):
        frame, _ = _ball_press(rng, simulator, config, ball_radius_m, f"{index:06d}")
        diff = normalized_difference(frame.image, model)
        circle = detect_ball(diff)
        if circle is not None:
            c, g = ball_samples(cv2.GaussianBlur(diff, (0, 0), LOOKUP_SMOOTHING_PX), circle, ball_radius_m,
                                config.pixel_size_m, exclude=model.markers)
            colours.append(c)
            slopes.append(g)
    if not colours:
        raise InputError("simulated calibration: no press showed a whole ball")
    return build_table(np.concatenate(colours), np.concatenate(slopes), config.pixel_size_m, bins,
                       {"simulated": True, "ball_radius_mm": ball_radius_m * 1e3, "seed": seed})
