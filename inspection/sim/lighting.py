"""Lights and camera response for the simulated cell: a ring light around the lens, a grazing light,
diffuse room light, exposure, vignetting, blur and sensor noise. Randomised per image (domain
randomisation) and saved with it, so an image can be re-rendered exactly.

A photometric-stereo flash (``with_flash``) replaces the ring and grazing lights by one light fixed to the
camera; the room's light (ambient, ceiling panels) stays on, as it does in a real cell.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np


FLASH_INTENSITY = 1.0  # a flash's radiance scale at the part origin (auto exposure rescales each image anyway)


@dataclass(frozen=True)
class Lighting:
    ring_intensity: float  # radiance scale of the whole ring at 0.5 m
    ring_radius_m: float
    ring_count: int
    grazing_intensity: float
    grazing_azimuth: float  # radians, part frame, around +z
    grazing_elevation: float  # radians above the part's x-y plane
    ambient: float  # diffuse room light (a dome: brighter from above)
    exposure_bias: float  # multiplies the auto exposure: < 1 under-exposed, > 1 over-exposed
    vignetting: float  # relative fall-off at the image corner
    blur_sigma_px: float  # lens + demosaicing blur (at 1920x1080)
    read_noise: float  # linear units (1.0 = full scale)
    shot_noise: float  # variance per unit of signal
    background: float  # cell floor brightness, linear
    colour_gain: tuple[float, float, float] = (1.0, 1.0, 1.0)  # white balance / light colour, RGB
    # Ceiling panels seen in reflection: (direction towards the panel in the part frame, angular radius, radiance).
    panels: tuple[tuple[tuple[float, float, float], float, float], ...] = ()
    # A photometric-stereo flash: its position in the camera's optical frame (m); None: ring and grazing lights.
    flash_offset: tuple[float, float, float] | None = None

    @staticmethod
    def random(rng: np.random.Generator) -> "Lighting":
        setup = rng.uniform()
        ring = rng.uniform(0.6, 1.0) if setup < 0.75 else rng.uniform(0.0, 0.2)
        grazing = rng.uniform(0.0, 0.3) if setup < 0.45 else rng.uniform(0.4, 1.0)
        return Lighting(
            ring_intensity=float(ring), ring_radius_m=float(rng.uniform(0.05, 0.12)), ring_count=4,
            grazing_intensity=float(grazing), grazing_azimuth=float(rng.uniform(0, 2 * np.pi)),
            grazing_elevation=float(rng.uniform(np.radians(8), np.radians(30))),
            ambient=float(rng.uniform(0.08, 0.5)), exposure_bias=float(np.exp(rng.normal(0.0, 0.25))),
            vignetting=float(rng.uniform(0.05, 0.35)), blur_sigma_px=float(rng.uniform(0.4, 1.0)),
            read_noise=float(rng.uniform(0.001, 0.003)), shot_noise=float(rng.uniform(0.00005, 0.0002)),
            background=float(rng.uniform(0.02, 0.08)),
            colour_gain=tuple(float(g) for g in np.clip(1.0 + rng.normal(0.0, 0.04, 3), 0.85, 1.15)),  # type: ignore
            panels=tuple(_random_panel(rng) for _ in range(rng.integers(1, 4))),
        )

    @staticmethod
    def default() -> "Lighting":
        """The cell's nominal set-up: ring light on, weak grazing light, normal exposure."""
        panels = (((0.3, 0.0, 0.954), 0.12, 3.0), ((-0.35, 0.2, 0.915), 0.12, 3.0))
        return Lighting(0.9, 0.08, 4, 0.25, 0.6, np.radians(20), 0.2, 1.0, 0.2, 0.6, 0.002, 0.0001, 0.05,
                        (1.0, 1.0, 1.0), panels)

    def with_flash(self, offset_in_camera: np.ndarray) -> "Lighting":
        """The same room and camera with only a flash at ``offset_in_camera`` (m, optical frame) lit."""
        return replace(self, flash_offset=tuple(float(v) for v in offset_in_camera))

    def illumination(self, camera_centre: np.ndarray, camera_axes: np.ndarray) -> "Illumination":
        """The lights in the part frame for a camera pose (the ring light moves with the camera)."""
        panels = [(np.asarray(d) / np.linalg.norm(d), float(w), float(i)) for d, w, i in self.panels]
        return Illumination(self.point_lights(camera_centre, camera_axes), self.ambient, panels)

    def point_lights(self, camera_centre: np.ndarray, camera_axes: np.ndarray) -> list[tuple[np.ndarray, float]]:
        """(position in the part frame, intensity at the part origin) of each point light."""
        if self.flash_offset is not None:
            return [(camera_centre + camera_axes @ np.asarray(self.flash_offset), FLASH_INTENSITY)]
        lights = []
        for k in range(self.ring_count):
            angle = 2 * np.pi * (k + 0.5) / self.ring_count
            offset = self.ring_radius_m * (np.cos(angle) * camera_axes[:, 0] + np.sin(angle) * camera_axes[:, 1])
            lights.append((camera_centre + offset, self.ring_intensity / self.ring_count))
        if self.grazing_intensity > 0:
            direction = np.array([np.cos(self.grazing_elevation) * np.cos(self.grazing_azimuth),
                                  np.cos(self.grazing_elevation) * np.sin(self.grazing_azimuth),
                                  np.sin(self.grazing_elevation)])
            lights.append((1.5 * direction, self.grazing_intensity))
        return lights

    def to_json(self) -> dict[str, Any]:
        record = asdict(self)
        record["panels"] = [[list(d), w, i] for d, w, i in self.panels]
        if self.flash_offset is None:
            del record["flash_offset"]  # the records of ring-lit images stay as they were
        else:
            record["flash_offset"] = list(self.flash_offset)
        return record

    @staticmethod
    def from_json(record: dict[str, Any]) -> "Lighting":
        panels = tuple((tuple(d), float(w), float(i)) for d, w, i in record.get("panels", ()))
        gain = tuple(record.get("colour_gain", (1.0, 1.0, 1.0)))
        flash = record.get("flash_offset")
        return Lighting(**{**record, "panels": panels, "colour_gain": gain,
                           "flash_offset": tuple(flash) if flash is not None else None})


@dataclass(frozen=True)
class Illumination:
    lights: list[tuple[np.ndarray, float]]
    ambient: float
    panels: list[tuple[np.ndarray, float, float]]


def _random_panel(rng: np.random.Generator) -> tuple[tuple[float, float, float], float, float]:
    """A ceiling light panel or window 10-60 degrees from the zenith, as a glossy skin reflects it."""
    polar, azimuth = rng.uniform(np.radians(10), np.radians(60)), rng.uniform(0, 2 * np.pi)
    direction = (float(np.sin(polar) * np.cos(azimuth)), float(np.sin(polar) * np.sin(azimuth)), float(np.cos(polar)))
    return direction, float(rng.uniform(0.05, 0.25)), float(rng.uniform(1.0, 5.0))
