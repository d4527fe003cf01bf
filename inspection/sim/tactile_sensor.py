"""GelSight-style tactile sensor simulator: press the gel onto the local part surface (with its defects)
and render what the sensor camera sees, with ground truth.

Pipeline per frame (after Taxim, Si & Yuan 2022, and TACTO, Wang et al. 2022):
1. gap: distance along the sensor axis from the undeformed gel plane to the part surface, per gel
   pixel, for the press pose (planar or curved surface plus defect displacement from
   ``inspection.sim.defects``, evaluated in the part frame);
2. penetration = press depth - (gap - min gap): the press depth counts from first touch;
3. membrane (optional, ``membrane_length_m``): the gel's coated skin cannot bend around features
   narrower than its bending length, so it bridges narrow pits and grooves (:func:`membrane_indentation`);
4. elastomer: the gel follows the surface where it touches and falls off smoothly around the contact
   (Gaussian-pyramid skirt), with a one-pixel skin blur;
5. optics: Lambertian shading under three coloured lights, non-uniform background, drift, noise,
   optional markers (``inspection.sim.tactile_optics``).

Sensor frame: x along image columns, y along image rows, +z the sensor axis pointing out of the gel
towards the surface. The gel's pixel (u, v) sits at x = (u - (W-1)/2) * pixel, y = (v - (H-1)/2) * pixel.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from inspection.cell import TactileConfig
from inspection.errors import InputError
from inspection.sim.defects import Defect
from inspection.sim.tactile_optics import SensorOptics
from inspection.sim.tactile_texture import PartEdge, Texture

NO_CONTACT_GAP_M = 0.01  # gap used where the surface is out of reach (e.g. beyond a ball's rim)
HOLE_RIM_M = 3e-4  # how far around a hole its rim is judged touched (the gel bridges the hole itself)


@dataclass(frozen=True)
class LocalSurface:
    """The part surface near a press: a plane through ``center`` with outward ``normal``, or a cylinder
    of signed ``radius_m`` (positive convex, negative concave) whose axis runs along ``axis``."""

    center: tuple[float, float, float] = (0.0, 0.0, 0.0)
    normal: tuple[float, float, float] = (0.0, 0.0, 1.0)
    axis: tuple[float, float, float] = (1.0, 0.0, 0.0)
    radius_m: float | None = None

    def frame(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(axis, across, normal) unit vectors; ``across`` is the direction of curvature."""
        normal = np.asarray(self.normal, float)
        normal = normal / np.linalg.norm(normal)
        axis = np.asarray(self.axis, float)
        axis = axis - normal * float(axis @ normal)
        axis = axis / np.linalg.norm(axis)
        return axis, np.cross(normal, axis), normal

    def offset(self, across: np.ndarray) -> np.ndarray:
        """Height (m) along the normal at distance ``across`` from the axis line through ``center``."""
        if self.radius_m is None or math.isinf(self.radius_m):
            return np.zeros_like(across)
        r = abs(self.radius_m)
        sag = r - np.sqrt(np.clip(r * r - across * across, 0.0, None))
        return -sag if self.radius_m > 0 else sag


@dataclass(frozen=True)
class TactileFrame:
    """One simulated press: the image and its ground truth."""

    image: np.ndarray           # (H, W, 3) uint8 RGB
    contact: np.ndarray         # (H, W) bool, where the gel touches the part
    height_m: np.ndarray        # (H, W) true gel indentation (m) before the elastomer blur
    gel_height_m: np.ndarray    # (H, W) indentation after the elastomer (what optics see)
    defects: list[dict[str, Any]] = field(default_factory=list)
    first_touch_m: float = 0.0  # how far the sensor moved along +z from the given pose to first touch


def gel_grid(config: TactileConfig) -> tuple[np.ndarray, np.ndarray]:
    """Sensor-frame (x, y) of every gel pixel centre, metres, each (H, W)."""
    ys, xs = np.mgrid[0:config.height_px, 0:config.width_px].astype(float)
    return ((xs - (config.width_px - 1) / 2) * config.pixel_size_m,
            (ys - (config.height_px - 1) / 2) * config.pixel_size_m)


def surface_gap(config: TactileConfig, sensor_to_part: np.ndarray, surface: LocalSurface,
                defects: list[Defect], texture: Texture | None = None,
                edge: PartEdge | None = None) -> tuple[np.ndarray, list[np.ndarray]]:
    """Gap (m) along the sensor axis from each gel pixel to the part surface (with defects, and the good
    part's ``texture``), and each defect's own displacement (m) on the gel grid, for its labels. Beyond the
    part's ``edge`` the gap is NO_CONTACT_GAP_M: the gel touches nothing there.

    Raises:
        InputError: the pose is not a 4x4 transform, or the sensor axis does not point into the surface.
    """
    transform = np.asarray(sensor_to_part, float)
    if transform.shape != (4, 4) or not np.all(np.isfinite(transform)):
        raise InputError(f"sensor_to_part: expected a finite 4x4 transform, got shape {transform.shape}")
    axis, across, normal = surface.frame()
    direction = transform[:3, 2]
    facing = float(direction @ normal)
    if facing > -0.5:
        raise InputError(f"sensor_to_part: sensor +z must point into the surface (cos to -normal {-facing:.2f} < 0.5)")
    x, y = gel_grid(config)
    points = x[..., None] * transform[:3, 0] + y[..., None] * transform[:3, 1] + transform[:3, 3]
    rel = points - np.asarray(surface.center)
    along, side, up = rel @ axis, rel @ across, rel @ normal
    nominal = surface.offset(side)
    on_surface = np.asarray(surface.center) + along[..., None] * axis + side[..., None] * across \
        + nominal[..., None] * normal
    flat_points = on_surface.reshape(-1, 3)
    per_defect = [defect.height_at(flat_points).reshape(x.shape) for defect in defects]
    surface_up = nominal + sum(per_defect, np.zeros_like(x))
    if texture is not None:
        surface_up = surface_up + texture.height(along, side)
    gap = (up - surface_up) / -facing
    if edge is not None:
        off_part, drop = edge.beyond(along, side)
        gap = np.where(off_part, NO_CONTACT_GAP_M, gap + drop / -facing)
    return gap, per_defect


def ball_gap(config: TactileConfig, center_m: tuple[float, float], ball_radius_m: float) -> np.ndarray:
    """Gap (m) to a ball of ``ball_radius_m`` whose lowest point faces gel point ``center_m`` (sensor x, y)."""
    x, y = gel_grid(config)
    r2 = (x - center_m[0]) ** 2 + (y - center_m[1]) ** 2
    inside = r2 < ball_radius_m**2
    gap = np.full(x.shape, NO_CONTACT_GAP_M)
    gap[inside] = ball_radius_m - np.sqrt(ball_radius_m**2 - r2[inside])
    return gap


def _pyramid_blur(image: np.ndarray, levels: int) -> np.ndarray:
    """Gaussian-pyramid low-pass (down then up ``levels`` times), as Taxim smooths the gel."""
    sizes = []
    out = image
    for _ in range(levels):
        sizes.append((out.shape[1], out.shape[0]))
        out = cv2.pyrDown(out)
    for size in reversed(sizes):
        out = cv2.pyrUp(out, dstsize=size)
    return out


def elastomer(penetration_m: np.ndarray, contact: np.ndarray, skirt_levels: int = 2,
              skin_sigma_px: float = 1.0) -> np.ndarray:
    """Gel surface indentation: the surface shape where touching, a smooth skirt around the contact."""
    skirt = _pyramid_blur(penetration_m.astype(np.float32), skirt_levels).astype(float)
    gel = np.where(contact, penetration_m, 0.6 * skirt)
    return cv2.GaussianBlur(gel, (0, 0), skin_sigma_px)


DEFAULT_MEMBRANE_LENGTH_M = 3e-4  # bending length of a GelSight-style coated gel (see membrane_indentation)
CONTACT_TOLERANCE_M = 1e-6  # the gel touches the part where it lies within this of the part surface


def membrane_indentation(penetration_m: np.ndarray, bending_length_px: float) -> np.ndarray:
    """Gel indentation of a stiff membrane pressed by a part whose intrusion is ``penetration_m``.

    Why: the gel's outer skin (reflective paint on an elastomer a few mm thick) is a thin plate on a
    soft elastic foundation. Such a plate spreads a load over its bending length
    l = (D / k)^(1/4), D = E_s h^3 / (12 (1 - nu^2)) the skin's flexural rigidity and k ~ E_gel / t_gel
    the foundation's stiffness (Hetenyi, *Beams on Elastic Foundation*, 1946): it cannot follow relief
    narrower than about l. A real sensor therefore reads a narrow pit, crack or groove shallower than
    it is (our own measurements read cracks at a quarter of their depth). The plate's response is
    modelled, simply, as a Gaussian low-pass of the indentation with sigma = l / 2, and the contact
    constraint clips it: the gel can never be inside the part, so it is at least the part's intrusion.
    A pit narrower than l is bridged (its measured depth is a fraction of the true one); a pit several l
    wide is followed nearly to its bottom. The ground truth stays the part's own intrusion.
    """
    penetration = np.asarray(penetration_m, np.float32)
    if bending_length_px <= 0:
        return penetration.astype(float)
    plate = cv2.GaussianBlur(penetration, (0, 0), bending_length_px / 2, borderType=cv2.BORDER_REPLICATE)
    return np.maximum(penetration, plate).astype(float)


class TactileSimulator:
    """Renders presses of a GelSight-style sensor; deterministic for a given generator state.

    ``membrane_length_m``: the gel skin's bending length (0: the gel follows every feature, as before
    the membrane model; DEFAULT_MEMBRANE_LENGTH_M for a coated GelSight-style gel)."""

    def __init__(self, config: TactileConfig, optics: SensorOptics | None = None,
                 membrane_length_m: float = 0.0) -> None:
        if not (0.0 <= membrane_length_m <= 0.005):
            raise InputError(f"membrane length {membrane_length_m * 1e3:.3f} mm is outside 0-5 mm")
        self.config = config
        self.optics = optics or SensorOptics()
        self.membrane_length_m = membrane_length_m

    def background(self, rng: np.random.Generator | None = None) -> np.ndarray:
        """The no-contact frame (uint8 RGB), with noise when ``rng`` is given."""
        h, w = self.config.height_px, self.config.width_px
        zeros = np.zeros((h, w))
        return self.optics.render(zeros, zeros, rng)

    def _gel_surface(self, gap: np.ndarray, press_depth_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(part intrusion, gel indentation before the skin blur, contact) for a press past first touch."""
        penetration = np.clip(press_depth_m - (gap - gap.min()), 0.0, None)
        if self.membrane_length_m <= 0:
            return penetration, penetration, penetration > 0
        held = membrane_indentation(penetration, self.membrane_length_m / self.config.pixel_size_m)
        return penetration, held, (penetration > 0) & (held - penetration < CONTACT_TOLERANCE_M)

    def press(self, gap_m: np.ndarray, press_depth_m: float, rng: np.random.Generator | None,
              defects: list[Defect] = (), drift: tuple[float, float, float] = (1.0, 1.0, 1.0),
              contrast: float = 1.0, defect_heights: list[np.ndarray] | None = None) -> TactileFrame:
        """Press the gel ``press_depth_m`` past first touch and render the frame.

        ``defect_heights`` (optional, one (H, W) array per defect, metres) lets the caller supply each
        defect's own displacement on the gel grid so the labels can say how much of it is in contact.
        """
        if not (0 < press_depth_m <= self.config.max_press_depth_m):
            raise InputError(f"press_depth_m: {press_depth_m} m is outside (0, {self.config.max_press_depth_m}]")
        gap = np.asarray(gap_m, float)
        if gap.shape != (self.config.height_px, self.config.width_px):
            raise InputError(f"gap_m: shape {gap.shape} is not the gel grid "
                             f"({self.config.height_px}, {self.config.width_px})")
        penetration, held, contact = self._gel_surface(gap, press_depth_m)
        if self.membrane_length_m > 0:
            gel = elastomer(held, held > CONTACT_TOLERANCE_M)  # bridged gel is held up by the skin, no skirt
        else:
            gel = elastomer(penetration, contact)
        gy, gx = np.gradient(gel, self.config.pixel_size_m)
        image = self.optics.render(gx, gy, rng, drift=drift, contrast=contrast)
        labels = []
        for defect, hmap in zip(defects, defect_heights or []):
            label = defect_label(defect, hmap, contact, self.config.pixel_size_m)
            # How much the gel itself moves because of the defect: what any method can at best see of it.
            _, held_without, _ = self._gel_surface(gap + hmap, press_depth_m)
            label["felt_depth_mm"] = round(float(np.abs(held - held_without).max()) * 1e3, 6)
            labels.append(label)
        return TactileFrame(image=image, contact=contact, height_m=penetration, gel_height_m=gel, defects=labels,
                            first_touch_m=float(gap.min()))


def defect_label(defect: Defect, height_m: np.ndarray, contact: np.ndarray, pixel_m: float) -> dict[str, Any]:
    """Ground truth of one defect under the gel: class, nominal size (mm), where it shows, how much touches
    (for a hole, how much of its rim: the gel cannot reach inside it)."""
    footprint = np.abs(height_m) > 0.1 * max(defect.depth_m, 1e-9)
    rows, cols = np.nonzero(footprint)
    felt = footprint
    if defect.is_hole:  # the gel bridges a hole and feels it by its rim: the ring just outside it
        rim_px = max(1, int(round(HOLE_RIM_M / pixel_m)))
        grown = cv2.dilate(footprint.astype(np.uint8), cv2.getStructuringElement(
            cv2.MORPH_ELLIPSE, (2 * rim_px + 1, 2 * rim_px + 1))).astype(bool)
        felt = grown & ~footprint
    touching = float((felt & contact).sum() / max(felt.sum(), 1))
    record: dict[str, Any] = {
        "class_name": defect.class_name,
        "depth_mm": round(defect.depth_m * 1e3, 6),
        "width_mm": round(defect.width_m * 1e3, 6),
        "length_mm": round(defect.length_m * 1e3, 6),
        "raised": defect.class_name == "bump",
        "pixels": int(footprint.sum()),
        "contact_fraction": round(touching, 4),
    }
    if len(rows):
        record["center_px"] = [round(float(cols.mean()), 2), round(float(rows.mean()), 2)]
        record["bbox_px"] = [int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1]
    return record


def threaded_rod_gap(config: TactileConfig, rod_radius_m: float, pitch_m: float, thread_depth_m: float,
                     axis_offset_m: float = 0.0) -> np.ndarray:
    """Gap (m) to a threaded rod lying along the image rows' direction (axis along sensor y), as in the
    real GelSight Mini sample frames: a cylinder across x with a triangular thread along y."""
    x, y = gel_grid(config)
    across = x - axis_offset_m
    on_rod = np.abs(across) < rod_radius_m
    cylinder = np.where(on_rod, rod_radius_m - np.sqrt(np.clip(rod_radius_m**2 - across**2, 0.0, None)),
                        NO_CONTACT_GAP_M)
    thread = np.abs((y / pitch_m) % 1.0 - 0.5) * 2.0 * thread_depth_m
    return cylinder + thread
