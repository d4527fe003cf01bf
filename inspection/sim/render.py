"""Ray-cast renderer of a scene: Blinn-Phong paint or metal, finish texture, defects, camera effects.

Each pixel's ray is cast on the part mesh (open3d RaycastingScene, facets within 0.1 mm of the
surface); shading uses the interpolated vertex normals tilted by the finish texture and by each
defect's height field.
Defects are evaluated only on pixels inside their projected support, on 3x3 sub-samples of the
pixel footprint, because many are thinner than a pixel (a 0.1 mm crack on a 0.23 mm pixel): the
pixel gets the clean value plus the mean change the defect makes, so the finish texture never
differs between defect and background pixels and a detector cannot cheat on it.

Each defect's box is the pixel extent of its footprint (|height| > 10% of depth, or optical mask >
50%) among the pixels whose ray really hits it, so occluded or out-of-view defects get no box; it is
``camera_visible`` only if it changes at least ``MIN_VISIBLE_PIXELS`` pixels by more than three
times the sensor noise after blur.

Visible is not yet resolvable: three pixels at 3 sigma are a speck that no detector can tell from
noise. A defect is ``camera_resolvable`` when, in addition, what it shows above that noise spans at
least ``RESOLVABLE_MIN_SIZE_PX`` pixels (its longest extent, ``size_px``) and its strongest change
after blur reaches ``RESOLVABLE_MIN_SIGMAS`` times the sensor noise there (``contrast_sigma``, noise
from the renderer's own read + shot model, lens blur and exposure included):
- 3 px: two pixels are one line pair (Johnson's criterion for bare detection), and the blur of 0.4-1
  px spreads any mark over about that much, so only from three pixels on does a mark have a shape a
  detector's 3x3 kernels can tell from a blurred noise spike;
- 5 sigma: the Rose criterion for reliable detection; of the ~6 million channel values of a
  1920x1080 frame, noise alone takes about 4 beyond 5 sigma but ~17,000 beyond 3 sigma.
Both are properties of the optics and the capture (resolution, view distance, lights, exposure),
not of any detector, so Stage I recall on resolvable defects says how much of what the camera could
find the detector finds.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import cv2
import numpy as np

from inspection.sim.camera import Camera
from inspection.sim.defects import Defect
from inspection.sim.lighting import Lighting
from inspection.sim.scene import Scene
from inspection.sim.shading import SurfaceSamples, smooth_tile, finish_at, shade

SUBSAMPLES = 3
MIN_VISIBLE_PIXELS = 3
NOISE_SIGMAS = 3.0
RESOLVABLE_MIN_SIZE_PX = 3.0
RESOLVABLE_MIN_SIGMAS = 5.0
FOOTPRINT_HEIGHT_FRACTION = 0.1
FOOTPRINT_MASK_LEVEL = 0.5
_GRADIENT_STEP_M = 5e-6
_SMOOTH_BLOCK = 0.01  # relative spread of hit distances over a 2x2 ray block still taken as one smooth surface
_FLOOR_Z_M = -0.15
_FLOOR_TEXEL_M = 0.004
_FLOOR_RGB = (0.95, 1.0, 1.06)
_MAX_BEND_M = 5e-5  # second difference of hit distance over 2 pixels: interpolation error ~ 1/8 of it
_TARGET_MEDIAN = 0.22
_GAMMA_LEVELS = 1 << 15  # auto exposure: the median part pixel lands here (linear)


@dataclass(frozen=True)
class DefectView:
    """What one view shows of one defect. ``box`` = (x1, y1, x2, y2) pixel edges; None if no footprint."""

    defect_id: str
    class_name: str
    box: tuple[int, int, int, int] | None
    contrast_pixels: int
    camera_visible: bool
    size_px: int = 0  # longest extent of the pixels whose change beats the noise
    contrast_sigma: float = 0.0  # strongest change after blur, in sensor noise standard deviations
    camera_resolvable: bool = False  # visible, at least RESOLVABLE_MIN_SIZE_PX and RESOLVABLE_MIN_SIGMAS

    def to_json(self) -> dict[str, Any]:
        return {"defect_id": self.defect_id, "class_name": self.class_name,
                "box": list(self.box) if self.box else None, "contrast_pixels": self.contrast_pixels,
                "camera_visible": self.camera_visible, "size_px": self.size_px,
                "contrast_sigma": round(self.contrast_sigma, 2), "camera_resolvable": self.camera_resolvable}


@dataclass(frozen=True)
class Render:
    image: np.ndarray  # (H, W, 3) uint8 RGB
    defects: list[DefectView]
    hit_fraction: float

    @property
    def labels(self) -> list[DefectView]:
        """The boxes a detector should find: visible defects only."""
        return [d for d in self.defects if d.camera_visible and d.box is not None]


class Renderer:
    """Renders views of one part, casting on the part's own ray-casting scene (its BVH is built once and
    shared by every view, the tactile presses and Stage I)."""

    def __init__(self, scene: Scene, threads: int = 0) -> None:
        self.scene = scene
        self.threads = threads
        self._raycaster = scene.part.scene
        self._triangles = scene.part.triangles
        self._normals = scene.part.vertex_normals.astype(np.float32)

    def _cast(self, origin: np.ndarray, directions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Hit distance (inf on a miss) and interpolated vertex normal (zero on a miss) per ray."""
        import open3d as o3d

        rays = np.empty((len(directions), 6), np.float32)
        rays[:, :3], rays[:, 3:] = origin, directions
        result = self._raycaster.cast_rays(o3d.core.Tensor(rays), nthreads=self.threads)
        t_hit = result["t_hit"].numpy()
        hit = np.isfinite(t_hit)
        corners = self._triangles[np.where(hit, result["primitive_ids"].numpy(), 0)]
        bary = result["primitive_uvs"].numpy()
        normals = self._normals[corners[:, 0]] * (1.0 - bary[:, :1] - bary[:, 1:])
        normals += self._normals[corners[:, 1]] * bary[:, :1]
        normals += self._normals[corners[:, 2]] * bary[:, 1:]
        normals[~hit] = 0.0
        return t_hit, normals

    def _hits(self, camera: Camera) -> tuple[np.ndarray, SurfaceSamples]:
        """Pixels whose ray hits the part, with hit points, normals and view directions.

        Rays are cast on every second pixel in x and y; a pixel inside a 2x2 block of hits whose
        distances agree within ``_SMOOTH_BLOCK`` and bend less than ``_MAX_BEND_M`` (a smooth patch,
        no facet crease) takes the bilinear distance and normal; every other pixel (silhouettes,
        occlusion edges, creases seen at grazing angles, the image border) is cast exactly.
        """
        import cv2

        height, width = camera.height, camera.width
        directions = camera.ray_directions()
        origin = camera.centre.astype(np.float32)
        coarse = directions[::2, ::2]
        gh, gw = coarse.shape[:2]
        t_coarse, n_coarse = self._cast(origin, coarse.reshape(-1, 3))
        t_coarse, n_coarse = t_coarse.reshape(gh, gw), n_coarse.reshape(gh, gw, 3)
        finite = np.isfinite(t_coarse)
        t_filled = np.where(finite, t_coarse, 0.0).astype(np.float32)
        blocks = np.zeros((gh, gw), bool)  # block (i, j) spans coarse samples i..i+1, j..j+1
        corners = [t_filled[:-1, :-1], t_filled[1:, :-1], t_filled[:-1, 1:], t_filled[1:, 1:]]
        all_hit = finite[:-1, :-1] & finite[1:, :-1] & finite[:-1, 1:] & finite[1:, 1:]
        spread = np.max(corners, axis=0) - np.min(corners, axis=0)
        # Facet creases bend the distance: a large second difference at any corner means exact rays.
        bend = np.full((gh, gw), np.inf, np.float32)
        bend[1:-1, 1:-1] = np.maximum(np.abs(np.diff(t_filled, 2, axis=0))[:, 1:-1],
                                      np.abs(np.diff(t_filled, 2, axis=1))[1:-1, :])
        bent = np.maximum.reduce([bend[:-1, :-1], bend[1:, :-1], bend[:-1, 1:], bend[1:, 1:]])
        blocks[:-1, :-1] = all_hit & (spread < _SMOOTH_BLOCK * t_filled[:-1, :-1]) & (bent < _MAX_BEND_M)
        map_x, map_y = _half_maps(width, height)
        smooth = blocks[map_y.astype(np.int32), map_x.astype(np.int32)].ravel()
        t_full = cv2.remap(t_filled, map_x, map_y, cv2.INTER_LINEAR).ravel()
        n_full = cv2.remap(n_coarse, map_x, map_y, cv2.INTER_LINEAR).reshape(-1, 3)
        flat_directions = directions.reshape(-1, 3)
        exact = np.flatnonzero(~smooth)
        t_exact, n_exact = self._cast(origin, flat_directions[exact])
        t_full[exact], n_full[exact] = t_exact, n_exact
        hit = np.flatnonzero(np.isfinite(t_full))
        normals = n_full[hit]
        normals /= np.sqrt(np.einsum("ij,ij->i", normals, normals))[:, None]
        points = origin + t_full[hit, None] * flat_directions[hit]
        view = origin - points
        view /= np.sqrt(np.einsum("ij,ij->i", view, view))[:, None]
        return hit, SurfaceSamples(points, normals, view)

    def _shade_clean(self, surface: SurfaceSamples, finish, illumination) -> np.ndarray:
        """Defect-free radiance of every hit pixel, in row chunks on threads (numpy releases the GIL)."""
        threads = self.threads or os.cpu_count() or 1
        bounds = np.linspace(0, len(surface.points), min(threads, max(1, len(surface.points) // 100_000)) + 1)
        chunks = [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]

        def one(rows: slice) -> np.ndarray:
            part = surface.take(rows)
            return shade(part, finish, illumination, finish_at(part, finish))

        if len(chunks) == 1:
            return one(chunks[0])
        with ThreadPoolExecutor(len(chunks)) as pool:
            return np.concatenate(list(pool.map(one, chunks)))

    def render(self, camera: Camera, lighting: Lighting, rng: np.random.Generator) -> Render:
        """One image of the scene; ``rng`` draws only the sensor noise."""
        hit, surface = self._hits(camera)
        illumination, clean, exposure = self._clean(camera, hit, surface, lighting)
        return self._expose(camera, hit, surface, lighting, illumination, clean, exposure, rng)

    def render_burst(self, camera: Camera, lightings: list[Lighting], rng: np.random.Generator) -> list[Render]:
        """One image per lighting from one camera pose (a photometric-stereo burst). The rays are cast once,
        and the exposure is locked over the burst (the geometric mean of each image's auto exposure), as a
        photometric-stereo camera does: the shading's ratios between lights are what it measures."""
        hit, surface = self._hits(camera)
        shaded = [self._clean(camera, hit, surface, lighting) for lighting in lightings]
        exposure = float(np.exp(np.mean([np.log(auto) for _, _, auto in shaded])))
        return [self._expose(camera, hit, surface, lighting, illumination, clean, exposure, rng)
                for lighting, (illumination, clean, _) in zip(lightings, shaded)]

    def _clean(self, camera: Camera, hit: np.ndarray, surface: SurfaceSamples,
               lighting: Lighting) -> tuple[Any, np.ndarray, float]:
        """The lights, the defect-free radiance of the hit pixels and the auto exposure under ``lighting``."""
        illumination = lighting.illumination(camera.centre, camera.part_from_camera[:3, :3])
        clean = self._shade_clean(surface, self.scene.finish, illumination)
        part_values = clean.mean(axis=1)
        exposure = _TARGET_MEDIAN / max(float(np.median(part_values[::7])) if len(hit) else 1.0, 1e-4)
        return illumination, clean, exposure * lighting.exposure_bias

    def _expose(self, camera: Camera, hit: np.ndarray, surface: SurfaceSamples, lighting: Lighting,
                illumination: Any, clean: np.ndarray, exposure: float, rng: np.random.Generator) -> Render:
        """Add the defects to the clean radiance, then the camera: exposure, vignetting, lens blur, noise."""
        width, height = camera.width, camera.height
        finish = self.scene.finish
        radiance = _floor(camera, hit, lighting, self.scene.finish.texture_seed) / np.float32(exposure)
        radiance[hit] = clean
        views, delta_by_defect = _defect_effects(self.scene.defects, camera, hit, surface, finish, illumination)
        for pixels, delta in delta_by_defect:
            radiance[pixels] += delta
        image = radiance.reshape(height, width, 3) * exposure
        vignette = 1.0 - np.float32(lighting.vignetting) * _radius2(width, height, camera.cx, camera.cy)
        image *= vignette[..., None] * np.asarray(lighting.colour_gain, np.float32)
        sigma = lighting.blur_sigma_px * width / 1920
        image = cv2.GaussianBlur(image, (0, 0), sigma)
        noise_sd = np.sqrt(lighting.read_noise**2 + lighting.shot_noise * np.clip(image, 0, None))
        image = image + noise_sd * rng.standard_normal(image.shape, dtype=np.float32)
        codes = (np.clip(image, 0.0, 1.0) * (_GAMMA_LEVELS - 1) + 0.5).astype(np.int32)
        visible = _visibility(views, exposure, vignette, sigma, lighting, height, width)
        return Render(_gamma_table()[codes], visible, len(hit) / (width * height))


def _floor(camera: Camera, hit: np.ndarray, lighting: Lighting, seed: int) -> np.ndarray:
    """Linear radiance (H*W, 3) of the cell floor 0.15 m below the part's top, where rays miss the part:
    a grey plate with centimetre-scale blotches and a colour cast, in final (post-exposure) units."""
    missed = np.ones(camera.width * camera.height, bool)
    missed[hit] = False
    directions = camera.ray_directions().reshape(-1, 3)[missed]
    origin = camera.centre
    t = (_FLOOR_Z_M - origin[2]) / np.minimum(directions[:, 2], -1e-3)
    tile = smooth_tile(seed + 7, 4.0)
    i = np.floor((origin[1] + t * directions[:, 1]) / _FLOOR_TEXEL_M).astype(np.int64) % tile.shape[0]
    j = np.floor((origin[0] + t * directions[:, 0]) / _FLOOR_TEXEL_M).astype(np.int64) % tile.shape[1]
    level = np.float32(lighting.background) * np.clip(1.0 + 0.07 * tile[i, j], 0.2, None)
    level[t < 0] = lighting.background  # rays that never reach the floor (tilted views): plain dark
    radiance = np.zeros((camera.width * camera.height, 3), np.float32)
    radiance[missed] = level[:, None] * np.array(_FLOOR_RGB, np.float32)
    return radiance


@lru_cache(maxsize=4)
def _half_maps(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates of every pixel on the every-second-pixel ray grid (for cv2.remap)."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    return xs / 2, ys / 2


@lru_cache(maxsize=4)
def _radius2(width: int, height: int, cx: float, cy: float) -> np.ndarray:
    """Squared distance from the principal point, 1 at the corner (vignetting grows with it)."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    return ((xs - cx) ** 2 + (ys - cy) ** 2) / np.float32(cx**2 + cy**2)


@lru_cache(maxsize=1)
def _gamma_table() -> np.ndarray:
    """Linear level -> 8-bit sRGB-like code (gamma 2.2); 2^15 levels keep dark steps under 0.1 code."""
    return (np.linspace(0.0, 1.0, _GAMMA_LEVELS) ** (1 / 2.2) * 255.0 + 0.5).astype(np.uint8)


@dataclass
class _Footprint:
    defect: Defect
    pixels: np.ndarray  # flat pixel indices
    delta_alone: np.ndarray  # (n, 3) radiance change this defect makes on its own
    clean: np.ndarray  # (n, 3) clean radiance there
    box: tuple[int, int, int, int] | None


def _support_pixels(defect: Defect, camera: Camera, hit: np.ndarray, surface: SurfaceSamples) -> np.ndarray:
    """Positions in ``hit`` of the pixels inside the projection of the defect's bounding circle."""
    centre = np.asarray(defect.center)[None]
    pixel, depth = camera.project(centre)
    (px, py), depth = pixel[0], depth[0]
    if depth <= 0:
        return np.empty(0, np.int64)
    radius_px = defect.support_radius_m * max(camera.fx, camera.fy) / depth * 1.5 + 3
    x0, x1 = int(max(0, np.floor(px - radius_px))), int(min(camera.width - 1, np.ceil(px + radius_px)))
    y0, y1 = int(max(0, np.floor(py - radius_px))), int(min(camera.height - 1, np.ceil(py + radius_px)))
    if x0 > x1 or y0 > y1:
        return np.empty(0, np.int64)
    ys, xs = np.mgrid[y0:y1 + 1, x0:x1 + 1]
    wanted = (ys * camera.width + xs).ravel()
    positions = np.searchsorted(hit, wanted)
    positions = positions[positions < len(hit)]
    positions = positions[np.isin(hit[positions], wanted)]
    s, t, n = defect.local_coordinates(surface.points[positions])
    near = (np.abs(n) < 0.005) & (s * s + t * t < defect.support_radius_m**2)
    return positions[near]


def _subsample_offsets(camera: Camera, surface: SurfaceSamples, positions: np.ndarray) -> np.ndarray:
    """(n, S*S, 3) offsets spanning each pixel's footprint on the surface (ray differentials)."""
    axes = camera.part_from_camera[:3, :3]
    view = -surface.view[positions]  # camera -> point
    normal = surface.normals[positions]
    distance = np.linalg.norm(surface.points[positions] - camera.centre, axis=1)
    along = np.clip(np.sum(view * normal, axis=1), None, -1e-3)
    footprints = []
    for axis, focal in ((axes[:, 0], camera.fx), (axes[:, 1], camera.fy)):
        d_dir = axis[None] / focal
        step = distance[:, None] * (d_dir - (np.sum(d_dir * normal, 1) / along)[:, None] * view)
        footprints.append(step)
    grid = (np.arange(SUBSAMPLES) + 0.5) / SUBSAMPLES - 0.5
    ox, oy = np.meshgrid(grid, grid)
    return ox.ravel()[None, :, None] * footprints[0][:, None] + oy.ravel()[None, :, None] * footprints[1][:, None]


def _defect_fields(defect: Defect, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Height, surface slope vector (part frame) and optical mask of one defect at sample points."""
    s, t, _ = defect.local_coordinates(points)
    tangent = np.asarray(defect.tangent)
    bitangent = np.cross(np.asarray(defect.normal), tangent)
    if defect.is_geometric:
        e = _GRADIENT_STEP_M
        height = defect.profile(s, t)
        ds = (defect.profile(s + e, t) - defect.profile(s - e, t)) / (2 * e)
        dt = (defect.profile(s, t + e) - defect.profile(s, t - e)) / (2 * e)
        slope = ds[..., None] * tangent + dt[..., None] * bitangent
        return height, slope, defect.optical_mask(s, t)  # zero but for a hole's dark inside
    return np.zeros_like(s), np.zeros(s.shape + (3,)), defect.optical_mask(s, t)


def _defect_effects(defects: list[Defect], camera: Camera, hit: np.ndarray, surface: SurfaceSamples, finish,
                    illumination) -> tuple[list[_Footprint], list[tuple[np.ndarray, np.ndarray]]]:
    """Per-defect footprints and the combined radiance change on every pixel any defect touches."""
    supports = [_support_pixels(d, camera, hit, surface) for d in defects]
    union = np.unique(np.concatenate(supports)) if supports else np.empty(0, np.int64)
    if len(union) == 0:
        return [_Footprint(d, np.empty(0, np.int64), np.empty((0, 3)), np.empty((0, 3)), None) for d in defects], []
    overlaps = np.bincount(np.searchsorted(union, np.concatenate(supports)), minlength=len(union))
    offsets = _subsample_offsets(camera, surface, union)
    sub = SurfaceSamples.expand(surface, union, offsets)
    base = finish_at(sub, finish)
    total_slope = np.zeros_like(base.slope)
    albedo_mix = np.ones(base.gloss.shape + (3,), np.float32)
    gloss = np.ones(base.gloss.shape, np.float32)
    per_defect = []
    for defect, support in zip(defects, supports):
        where = np.searchsorted(union, support)
        height, slope, mask = _defect_fields(defect, sub.points[where])
        total_slope[where] += slope
        if defect.has_optical_change:
            albedo_mix[where], gloss[where] = _apply_optical(defect, finish, albedo_mix[where], gloss[where], mask)
        in_footprint = (np.abs(height) > FOOTPRINT_HEIGHT_FRACTION * max(defect.depth_m, 1e-9)) | (
            mask > FOOTPRINT_MASK_LEVEL)
        per_defect.append((where, slope, mask, in_footprint.any(axis=1)))
    clean = shade(sub, finish, illumination, base).mean(axis=1)
    dirty = shade(sub, finish, illumination, base, total_slope, albedo_mix, gloss)
    combined = dirty.mean(axis=1) - clean
    footprints = []
    for defect, (where, slope, mask, footprint) in zip(defects, per_defect):
        box = None
        if len(where) == 0:
            footprints.append(_Footprint(defect, np.empty(0, np.int64), np.empty((0, 3)), np.empty((0, 3)), None))
            continue
        if footprint.any():
            pixels = hit[union[where[footprint]]]
            xs, ys = pixels % camera.width, pixels // camera.width
            box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
        if np.all(overlaps[where] == 1):  # no other defect here: its own change is the combined one
            delta = combined[where]
        else:
            albedo_one, gloss_one = np.ones(mask.shape + (3,)), np.ones(mask.shape)
            if defect.has_optical_change:
                albedo_one, gloss_one = _apply_optical(defect, finish, albedo_one, gloss_one, mask)
            alone = shade(sub.take(where), finish, illumination, base.take(where), slope, albedo_one, gloss_one)
            delta = alone.mean(axis=1) - clean[where]
        footprints.append(_Footprint(defect, hit[union[where]], delta, clean[where], box))
    return footprints, [(hit[union], combined)]


def _apply_optical(defect: Defect, finish, albedo_mix: np.ndarray, gloss: np.ndarray,
                   mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Stains tint what is under them; lost paint shows the primer colour instead of the paint."""
    target = np.asarray(defect.albedo_rgb)
    if defect.class_name == "paint_loss":
        target = target / np.asarray(finish.base_rgb)  # primer replaces the paint colour
    albedo_mix = albedo_mix * (1.0 - mask[..., None] + mask[..., None] * target)
    gloss = gloss * (1.0 - mask + mask * defect.gloss_factor)
    return albedo_mix, gloss


def _visibility(footprints: list[_Footprint], exposure: float, vignette: np.ndarray, sigma: float,
                lighting: Lighting, height: int, width: int) -> list[DefectView]:
    """Count pixels whose change (after exposure, vignetting and blur) beats the sensor noise, measure their
    extent and the strongest change in noise sigmas, and call the defect visible and resolvable."""
    views = []
    for fp in footprints:
        contrast, size_px, sigmas = 0, 0, 0.0
        if fp.box is not None and len(fp.pixels):
            xs, ys = fp.pixels % width, fp.pixels // width
            x0, y0 = xs.min(), ys.min()
            patch = np.zeros((ys.max() - y0 + 1, xs.max() - x0 + 1, 3), np.float32)
            level = np.zeros(patch.shape, np.float32)
            gain = exposure * vignette.ravel()[fp.pixels, None] * np.asarray(lighting.colour_gain, np.float32)
            patch[ys - y0, xs - x0] = fp.delta_alone * gain
            level[ys - y0, xs - x0] = fp.clean * gain
            patch = cv2.GaussianBlur(patch, (0, 0), sigma)
            noise_sd = np.sqrt(lighting.read_noise**2 + lighting.shot_noise * np.clip(level, 0, None))
            # 8-bit quantisation also hides changes below one code value (sRGB slope at this level).
            code_step = 2.2 * np.clip(level, 1e-3, 1.0) ** (1 - 1 / 2.2) / 255.0
            threshold = np.maximum(NOISE_SIGMAS * noise_sd, code_step)
            above = (np.abs(patch) > threshold).any(axis=2)
            shows = ((level > 0).any(axis=2)) & ((level < 1.0).all(axis=2))  # saturated pixels show nothing
            above &= shows
            contrast = int(above.sum())
            if contrast:
                rows, cols = np.nonzero(above)
                size_px = int(max(np.ptp(rows), np.ptp(cols))) + 1
                # Below one code value the change is lost to quantisation however quiet the sensor is.
                seen = np.where(np.abs(patch) >= code_step, np.abs(patch), 0.0) / np.maximum(noise_sd, 1e-9)
                sigmas = float(np.max(np.where(shows[..., None], seen, 0.0)))
        visible = fp.box is not None and contrast >= MIN_VISIBLE_PIXELS
        resolvable = visible and size_px >= RESOLVABLE_MIN_SIZE_PX and sigmas >= RESOLVABLE_MIN_SIGMAS
        views.append(DefectView(fp.defect.id, fp.defect.class_name, fp.box, contrast, visible, size_px, sigmas,
                                resolvable))
    return views
