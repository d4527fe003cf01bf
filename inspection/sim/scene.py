"""A part, its surface finish and its defects: the ground truth every simulated stage is scored against.

Defects come from ``random_defect`` (all eight classes), 3-12 per part, spread by area with some
clustered (real damage often comes in groups: a dropped tool leaves dents and scratches together); a
missing fastener only at one of the finish's rivets, so only on riveted parts.
Some are meant to be hard for the camera: scratches laid along the machining grain, and the
log-uniform depth draw gives many dents only tens of micrometres deep. Which ones the camera really
sees is measured by the renderer, per view, and stored beside the ground truth.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from inspection.atomic import write_json_atomic
from inspection.errors import InputError
from inspection.records import DEFECT_CLASSES
from inspection.sim.defects import Defect, random_defect
from inspection.json_codec import read_json_file
from inspection.sim.parts import Part, build_part, load_mesh_part, random_part

SCENE_SCHEMA = "inspection.sim.scene/1"
FINISH_KINDS = ("painted", "bare", "composite")
FINISH_PROBABILITIES = (0.55, 0.3, 0.15)
_CLUSTER_PROBABILITY = 0.3
_ALONG_GRAIN_PROBABILITY = 0.4
_EDGE_MARGIN_M = 0.04  # defects keep this far from the part's edges


@dataclass(frozen=True)
class Finish:
    """Surface appearance: paint (orange peel), bare machined aluminium (grooves along ``grain_angle``) or
    carbon-fibre composite (twill weave), with skin waviness and flush rivet rows (along part x, at
    part-frame ``rivet_rows`` y) as the detector's look-alikes."""

    kind: str
    base_rgb: tuple[float, float, float]
    specular: float  # specular reflectance (Blinn-Phong scale; paint ~0.05, aluminium ~0.5)
    shininess: float  # Blinn-Phong exponent: higher is glossier
    grain_angle: float  # radians from part +x, in the tangent plane
    texture_slope: float  # RMS surface slope of the finish texture (radians)
    texture_seed: int
    mottle: float = 0.0  # RMS relative albedo variation over centimetres (paint thickness, cleaning marks)
    rivet_rows: tuple[float, ...] = ()
    rivet_pitch_m: float = 0.025
    rivet_radius_m: float = 0.0025
    waviness: float = 0.0  # RMS slope (rad) of centimetre-scale skin waviness, seen in reflections
    weave_m: float = 0.002  # tow width of a composite's twill weave

    @property
    def grain_direction(self) -> np.ndarray:
        return np.array([np.cos(self.grain_angle), np.sin(self.grain_angle), 0.0])

    @staticmethod
    def random(rng: np.random.Generator, half_width_m: float = 0.15) -> "Finish":
        kind = str(rng.choice(FINISH_KINDS, p=FINISH_PROBABILITIES))
        if kind == "painted":  # grey/white topcoat, orange peel
            grey = rng.uniform(0.55, 0.85)
            base = tuple(float(grey + t) for t in rng.uniform(-0.03, 0.03, 3))
            optics = (float(rng.uniform(0.04, 0.12)), float(rng.uniform(40, 300)), float(rng.uniform(0.003, 0.01)))
        elif kind == "bare":  # machined or brushed aluminium
            base = tuple(float(c) for c in rng.uniform(0.5, 0.62) * np.array([1.0, 1.01, 1.04]))
            optics = (float(rng.uniform(0.25, 0.6)), float(rng.uniform(15, 120)), float(rng.uniform(0.01, 0.04)))
        else:  # carbon-fibre composite under a clear coat: dark, glossy, twill weave
            base = tuple(float(c) for c in rng.uniform(0.05, 0.11) * np.array([1.0, 1.0, 1.05]))
            optics = (float(rng.uniform(0.05, 0.1)), float(rng.uniform(150, 600)), float(rng.uniform(0.02, 0.06)))
        rows: tuple[float, ...] = ()
        if rng.uniform() < 0.6:
            spacing = rng.uniform(0.06, 0.15)
            first = rng.uniform(-half_width_m, -half_width_m + spacing)
            rows = tuple(float(y) for y in np.arange(first, half_width_m, spacing))
        return Finish(kind, base, *optics[:2], float(rng.uniform(0, np.pi)), optics[2],  # type: ignore[arg-type]
                      int(rng.integers(2**31)), float(rng.uniform(0.005, 0.03)), rows,
                      float(rng.uniform(0.018, 0.032)), float(rng.uniform(0.002, 0.0032)),
                      float(rng.uniform(0.0005, 0.003)), float(rng.uniform(0.0015, 0.003)))

    def to_json(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

    @staticmethod
    def from_json(record: dict[str, Any]) -> "Finish":
        values = {k: (tuple(v) if isinstance(v, list) else v) for k, v in record.items()}
        return Finish(**values)


@dataclass
class Scene:
    part: Part
    finish: Finish
    defects: list[Defect]
    views: dict[str, dict[str, Any]] = field(default_factory=dict)  # view id -> camera + per-defect visibility

    def to_json(self) -> dict[str, Any]:
        return {"schema": SCENE_SCHEMA, "part": self.part.to_json(), "finish": self.finish.to_json(),
                "defects": [d.ground_truth() for d in self.defects], "views": self.views}

    def save(self, path: str | Path) -> Path:
        return write_json_atomic(path, self.to_json())

    @staticmethod
    def from_json(record: dict[str, Any], source: str = "scene") -> "Scene":
        if record.get("schema") != SCENE_SCHEMA:
            raise InputError(f"{source}: schema {record.get('schema')!r}, expected {SCENE_SCHEMA!r}")
        try:
            part_params = record["part"]
            if part_params.get("kind") == "mesh":
                part = load_mesh_part(part_params["source"], part_params.get("units", "m"))
            else:
                part = build_part(part_params)
            return Scene(part, Finish.from_json(record["finish"]),
                         [Defect.from_ground_truth(d) for d in record["defects"]], dict(record.get("views", {})))
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{source}: malformed scene ({type(exc).__name__}: {exc})") from exc

    @staticmethod
    def load(path: str | Path) -> "Scene":
        return Scene.from_json(read_json_file(path), str(path))


def random_scene(rng: np.random.Generator, part: Part | None = None,
                 count_range: tuple[int, int] = (3, 12)) -> Scene:
    """A random part (unless given), finish and 3-12 defects of all classes, some clustered."""
    part = part or random_part(rng)
    finish = Finish.random(rng, float(np.max(np.abs(part.vertices[:, 1]))))
    parametric = part.vertex_uv is not None
    rivets = rivet_sites(part, finish, _EDGE_MARGIN_M) if parametric else []
    classes = [c for c in DEFECT_CLASSES if (finish.kind == "painted" or c != "paint_loss")
               and (rivets or c != "missing_fastener")]  # a fastener can only be missing where there are rivets
    count = int(rng.integers(count_range[0], count_range[1] + 1))
    defects: list[Defect] = []
    anchors: list[tuple[float, float]] = []
    for index in range(count):
        class_name = str(rng.choice(classes))
        if class_name == "missing_fastener":
            u, v = rivets.pop(int(rng.integers(len(rivets))))
            if not rivets:
                classes.remove("missing_fastener")
            anchors.append((u, v))
            defects.append(_missing_fastener(rng, part, finish, f"d{index:02d}", u, v))
            continue
        if parametric:
            u, v = _place(rng, part, anchors)
            anchors.append((u, v))
            point, normal, tangent = part.surface(np.array([u]), np.array([v]))
        else:
            point, normal, tangent = part.sample_surface(rng, 1)
        defect = random_defect(rng, class_name, f"d{index:02d}", point[0], normal[0], tangent[0])
        if class_name == "scratch" and finish.kind == "bare" and rng.uniform() < _ALONG_GRAIN_PROBABILITY:
            grain = finish.grain_direction
            # Along the grain the scratch hides among the machining grooves (replace() re-normalises it).
            defect = replace(defect, tangent=tuple(float(g) for g in grain - normal[0] * (grain @ normal[0])))
        defects.append(defect)
    return Scene(part, finish, defects)


def rivet_sites(part: Part, finish: Finish, margin_m: float) -> list[tuple[float, float]]:
    """Surface coordinates (u, v) of every rivet the finish draws on a parametric part, at least
    ``margin_m`` from its edges. Rivets sit at part-frame x = offset + k * pitch along rows at y (see
    ``inspection.sim.shading``); the part's cross-section and u-curvature turn (x, y) back into (u, v)."""
    if part.section is None or not finish.rivet_rows:
        return []
    length, width = part.uv_extent
    section, k_u = part.section, float(part.params["curvature_u"])
    reach = length / 2 + finish.rivet_pitch_m
    sites = []
    for row, y in enumerate(finish.rivet_rows):
        v = float(np.interp(y, section.side, section.v))  # side grows with v: the cross-section never turns back
        if abs(v) > width / 2 - margin_m:
            continue
        _, drop, _ = section.at(np.array([v]))
        offset = 0.5 * finish.rivet_pitch_m * (row % 2)
        for x in np.arange(offset - np.ceil(reach / finish.rivet_pitch_m) * finish.rivet_pitch_m, reach,
                           finish.rivet_pitch_m):
            # x = sin(k u) (1 / k + drop) on a part curved along u, else x = u.
            u = float(x) if k_u == 0.0 else float(np.arcsin(np.clip(x / (1.0 / k_u + drop[0]), -1, 1)) / k_u)
            if abs(u) <= length / 2 - margin_m:
                sites.append((u, v))
    return sites


def _missing_fastener(rng: np.random.Generator, part: Part, finish: Finish, defect_id: str,
                      u: float, v: float) -> Defect:
    """A rivet hole without its head at rivet (u, v); the hole stays inside the head's countersink ring."""
    point, normal, tangent = part.surface(np.array([u]), np.array([v]))
    defect = random_defect(rng, "missing_fastener", defect_id, point[0], normal[0], tangent[0])
    diameter = min(defect.length_m, 1.6 * finish.rivet_radius_m)
    return replace(defect, length_m=diameter, width_m=diameter)


def _place(rng: np.random.Generator, part: Part, anchors: list[tuple[float, float]]) -> tuple[float, float]:
    """Surface coordinates for the next defect: near an earlier one sometimes, else uniform by area."""
    length, width = part.uv_extent
    margin = _EDGE_MARGIN_M
    if anchors and rng.uniform() < _CLUSTER_PROBABILITY:
        u0, v0 = anchors[int(rng.integers(len(anchors)))]
        distance, angle = rng.uniform(0.01, 0.04), rng.uniform(0, 2 * np.pi)
        u = float(np.clip(u0 + distance * np.cos(angle), -length / 2 + margin, length / 2 - margin))
        v = float(np.clip(v0 + distance * np.sin(angle), -width / 2 + margin, width / 2 - margin))
        return u, v
    u, v = part.sample_uv(rng, 1, margin)
    return float(u[0]), float(v[0])
