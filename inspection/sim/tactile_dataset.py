"""Labelled tactile datasets: random presses of the simulated GelSight Mini over every geometric
defect class and clean contacts, or ball presses for calibration. Same seed -> same bytes.

The folder layout, and its reader, are in ``inspection.datasets.tactile``.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from inspection.atomic import staged_folder, write_bytes_atomic, write_json_atomic
from inspection.cell import TactileConfig
from inspection.datasets.tactile import HEIGHT_PNG_UNIT_MM
from inspection.errors import InputError
from inspection.records import TACTILE_CLASSES
from inspection.sim.defects import Defect, random_defect
from inspection.sim.tactile_optics import SensorOptics
from inspection.sim.tactile_sensor import LocalSurface, TactileFrame, TactileSimulator, ball_gap, surface_gap

MAX_DEFECT_EXTENT_M = 0.010  # dents and bumps larger than this do not fit under the 18.6 x 13.9 mm gel


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


def sample_scene(rng: np.random.Generator, class_name: str, config: TactileConfig,
                 optics: SensorOptics | None = None) -> tuple[PressScene, TactileFrame]:
    """A random press showing ``class_name`` ("none": a clean contact) well inside the contact."""
    surface = random_surface(rng)
    pose = sensor_pose(rng.uniform(0, 2 * np.pi))
    drift = tuple(float(v) for v in 1.0 + rng.normal(0.0, 0.02, 3))
    contrast = float(rng.uniform(0.85, 1.05))
    axis, across, normal = surface.frame()
    for attempt in range(8):
        press = float(rng.uniform(0.0003, 0.0012))
        defects: list[Defect] = []
        if class_name != "none":
            spread = 0.004 if attempt < 4 else 0.001
            centre = rng.uniform(-spread, spread) * axis + rng.uniform(-spread, spread) * across
            defect = _fit_under_gel(random_defect(rng, class_name, "d0", centre, normal, axis))
            defects.append(defect)
            if not defect.is_hole:  # press past a shallow defect's bottom; no press reaches a hole's
                press = max(press, min(defect.depth_m + 0.0002, 0.0018))
        scene = PressScene(class_name, surface, pose, press, drift, contrast, defects)
        frame = render_scene(scene, config, rng, optics)
        if class_name == "none" or frame.defects[0]["contact_fraction"] >= 0.6:
            return scene, frame
    return scene, frame


def render_scene(scene: PressScene, config: TactileConfig, rng: np.random.Generator,
                 optics: SensorOptics | None = None) -> TactileFrame:
    gap, per_defect = surface_gap(config, scene.pose, scene.surface, scene.defects)
    simulator = TactileSimulator(config, optics)
    return simulator.press(gap, scene.press_depth_m, rng, scene.defects, drift=scene.drift,
                           contrast=scene.contrast, defect_heights=per_defect)


def pressed_pose(scene: PressScene, frame: TactileFrame) -> np.ndarray:
    """Sensor-to-part transform when the frame is taken: moved along +z to first touch, then the press."""
    pose = np.array(scene.pose, float)
    pose[:3, 3] += pose[:3, 2] * (frame.first_touch_m + scene.press_depth_m)
    return pose


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
    }


def _write_truth(root: Path, name: str, frame: TactileFrame) -> None:
    height = np.clip(np.rint(frame.height_m * 1e3 / HEIGHT_PNG_UNIT_MM), 0, 65535).astype(np.uint16)
    write_bytes_atomic(root / "truth" / f"{name}_height.png", _png(height))
    write_bytes_atomic(root / "truth" / f"{name}_contact.png", _png(frame.contact.astype(np.uint8) * 255))


def write_dataset(root: str | Path, frames: int, seed: int, config: TactileConfig,
                  ball_radius_m: float | None = None, progress: bool = True,
                  optics: SensorOptics | None = None) -> dict[str, Any]:
    """Write ``frames`` labelled presses (or ball presses when ``ball_radius_m`` is set) to ``root``, a new
    or empty folder: an earlier dataset there is never overwritten frame by frame, nor mixed with this one."""
    if frames < 1:
        raise InputError(f"--frames: need at least 1 frame, got {frames}")
    if ball_radius_m is not None and not (0.0005 <= ball_radius_m <= 0.05):
        raise InputError(f"--ball: radius {ball_radius_m * 1e3:.3f} mm is outside 0.5-50 mm")
    with staged_folder(root) as staging:  # a new or empty folder; a crash leaves no half dataset
        return _write_frames(staging, frames, seed, config, ball_radius_m, progress, optics)


def _write_frames(root: Path, frames: int, seed: int, config: TactileConfig, ball_radius_m: float | None,
                  progress: bool, optics: SensorOptics | None) -> dict[str, Any]:
    from inspection.progress import progress_bar

    rng = np.random.default_rng(seed)
    simulator = TactileSimulator(config, optics)
    write_bytes_atomic(root / "background.png", _png(simulator.background(rng)))
    names = []
    order = list(TACTILE_CLASSES)
    for index in progress_bar(range(frames), desc="tactile frames", unit="frame", enabled=progress):
        name = f"{index:06d}"
        if index % len(order) == 0:
            rng.shuffle(order)  # balanced classes in every block, random order inside it
        if ball_radius_m is None:
            scene, frame = sample_scene(rng, order[index % len(order)], config, optics)
            label = scene_label(scene, frame, name)
        else:
            frame, label = _ball_press(rng, simulator, config, ball_radius_m, name)
        write_bytes_atomic(root / "frames" / f"{name}.png", _png(frame.image))
        write_json_atomic(root / "labels" / f"{name}.json", label)
        _write_truth(root, name, frame)
        names.append(name)
    meta = {
        "kind": "ball" if ball_radius_m is not None else "defects",
        "seed": seed, "frames": names, "classes": list(TACTILE_CLASSES),
        "ball_radius_mm": None if ball_radius_m is None else ball_radius_m * 1e3,
        "sensor": {"width_px": config.width_px, "height_px": config.height_px, "pixel_size_m": config.pixel_size_m},
        "height_png_unit_mm": HEIGHT_PNG_UNIT_MM,
        "marker_pitch_px": simulator.optics.marker_pitch_px,
    }
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
