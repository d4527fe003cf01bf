"""Per-defect evidence for the report: camera crops, tactile frames and heightmap plots in the run folder.

The coordinator feeds an ``EvidenceStore`` as messages arrive (camera frames and Stage I hypotheses;
tactile frames, reconstructed heightmaps and findings, paired by their header stamp), so a run that
stops half way keeps what it had seen. Files, relative to the run folder, each written atomically:

    evidence/camera_<hypothesis id>.png   the camera frame around the hypothesis, its extent boxed in yellow: of
                                          the frames seen (several views of one part), the one where it
                                          lies farthest inside the image, facing the camera
    evidence/tactile_<finding id>.png     the tactile frame of the press
    evidence/heightmap_<finding id>.npy   the reconstructed heightmap (float32, mm of gel indentation)
    evidence/heightmap_<finding id>.png   that heightmap colour-mapped with a mm colourbar, and the profile
                                          through the deepest point against the fitted local surface
    evidence/latent_<latent id>.png       the explainer atlas's exemplar patches of a latent that an explained
                                          camera defect names (what that latent fires on)

Only presses that found a defect keep files here; every press is in the MCAP recording. ``attach``
writes each defect's files into ``FusedDefect.evidence`` (kind -> relative path), which is how
report.json references them and report.html embeds them.
"""
from __future__ import annotations

import io
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from inspection.atomic import write_bytes_atomic
from inspection.cell import CellConfig
from inspection.errors import InputError
from inspection.geometry.surface import tangent_frame
from inspection.records import DefectHypothesis, InspectionReport, Source, TactileFinding

EVIDENCE_DIR = "evidence"
EVIDENCE_KINDS = ("camera", "tactile", "heightmap")
MIN_CROP_HALF_PX = 48     # a pit a few pixels wide still gets enough surroundings to be recognised
MAX_CROP_HALF_PX = 320    # a stain the size of the panel is cut to something a page can show
CROP_CONTEXT = 2.5        # crop half-size over the defect's projected radius
BOX_COLOUR = (255, 220, 0)
PLOT_SIZE_IN, PLOT_DPI = (6.8, 2.6), 100   # heightmap figures are 680 x 260 px
RIM_PX = 16                # Poisson integration is least sure at the frame's rim: the deepest point is not sought there
CAMERA_FRAMES_KEPT = 16   # every view of a multi-view capture (a grid over a 0.6 m part is 6); ~6 MB each at 1080p
PENDING_LIMIT = 64        # tactile frames or heightmaps waiting for their finding; older ones are dropped


def png_bytes(image_rgb: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(image_rgb), cv2.COLOR_RGB2BGR))
    if not ok:
        raise InputError(f"cannot encode a {image_rgb.shape} image as PNG")
    return encoded.tobytes()


@dataclass(frozen=True)
class CameraModel:
    """What a crop needs: intrinsics and distortion of the frame, and the camera's pose in the part frame."""

    k: np.ndarray                 # 3x3
    distortion: np.ndarray        # plumb_bob k1, k2, p1, p2, k3
    part_from_camera: np.ndarray  # 4x4, optical frame (z forward)

    @staticmethod
    def from_cell(cell: CellConfig, width: int, height: int, k: np.ndarray | None = None,
                  distortion: np.ndarray | None = None, camera_to_world: np.ndarray | None = None) -> "CameraModel":
        """The frame's camera: its pose ``camera_to_world`` (camera/pose at the frame's stamp), else the fixed
        cell camera's; camera_info's ``k`` when given, else cell.yaml's intrinsics, which only fit a frame of
        the size cell.yaml names."""
        if k is None:
            if (width, height) != (cell.camera.width, cell.camera.height):
                raise InputError(f"camera/image_raw: {width}x{height} frame without camera_info "
                                 f"(cell.yaml camera is {cell.camera.width}x{cell.camera.height})")
            k, distortion = cell.camera.intrinsic_matrix(), np.asarray(cell.camera.distortion)
        world_from_camera = cell.camera_to_world() if camera_to_world is None else np.asarray(camera_to_world, float)
        pose = np.linalg.inv(cell.part_to_world()) @ world_from_camera
        return CameraModel(np.asarray(k, float), np.asarray(distortion if distortion is not None else [], float), pose)

    def project(self, points_part: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixels (N, 2) and depth along the optical axis (N,) of part-frame points."""
        camera_from_part = np.linalg.inv(self.part_from_camera)
        points = np.asarray(points_part, float).reshape(-1, 3)
        depth = points @ camera_from_part[:3, 2] + camera_from_part[2, 3]
        rvec, _ = cv2.Rodrigues(camera_from_part[:3, :3])
        pixels, _ = cv2.projectPoints(points, rvec, camera_from_part[:3, 3], self.k, self.distortion)
        return pixels.reshape(-1, 2), depth


def crop_window(shape: tuple[int, ...], centre_px: tuple[float, float], half_px: int) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) of a square of half-size ``half_px`` around ``centre_px``, cut at the image border;
    None when the centre lies outside the image."""
    height, width = shape[:2]
    cx, cy = centre_px
    if not (0 <= cx < width and 0 <= cy < height):
        return None
    x0, y0 = max(0, int(round(cx)) - half_px), max(0, int(round(cy)) - half_px)
    x1, y1 = min(width, int(round(cx)) + half_px + 1), min(height, int(round(cy)) + half_px + 1)
    return x0, y0, x1, y1


def placement(shape: tuple[int, ...], camera: CameraModel, hypothesis: DefectHypothesis) -> float:
    """How well a frame shows ``hypothesis``: the distance of its projected centre from the nearest image
    border, as a share of that image side (0.5 at the centre); -inf when it is outside the frame, behind the
    camera or on a surface facing away from it."""
    centre = np.asarray(hypothesis.position, float)
    if float(np.dot(hypothesis.normal, camera.part_from_camera[:3, 3] - centre)) <= 0:
        return -np.inf
    pixels, depth = camera.project(centre)
    height, width = shape[:2]
    x, y = float(pixels[0, 0]), float(pixels[0, 1])
    if depth[0] <= 0 or not (0 <= x < width and 0 <= y < height):
        return -np.inf
    return min(min(x, width - 1 - x) / width, min(y, height - 1 - y) / height)


def camera_crop(image_rgb: np.ndarray, camera: CameraModel, hypothesis: DefectHypothesis) -> np.ndarray | None:
    """The frame around ``hypothesis`` with its projected extent boxed; None when it is behind the camera or
    outside the frame. Near the border the crop is cut, not padded: every pixel shown was seen."""
    centre = np.asarray(hypothesis.position, float)
    normal = np.asarray(hypothesis.normal, float)  # merged hypotheses average their normals: not unit
    (u,), (v,) = tangent_frame(normal / np.linalg.norm(normal))
    radius_m = max(hypothesis.extent_m) / 2
    rim = [centre + radius_m * s * axis for axis in (u, v) for s in (-1.0, 1.0)]
    pixels, depth = camera.project(np.vstack([centre, *rim]))
    if depth[0] <= 0:
        return None
    radius_px = float(np.max(np.linalg.norm(pixels[1:] - pixels[0], axis=1)))
    half = int(np.clip(CROP_CONTEXT * radius_px, MIN_CROP_HALF_PX, MAX_CROP_HALF_PX))
    window = crop_window(image_rgb.shape, (float(pixels[0, 0]), float(pixels[0, 1])), half)
    if window is None:
        return None
    x0, y0, x1, y1 = window
    crop = np.ascontiguousarray(image_rgb[y0:y1, x0:x1]).copy()
    box = int(np.ceil(radius_px)) + 3  # the box sits just outside the defect so it hides none of it
    cx, cy = int(round(pixels[0, 0])) - x0, int(round(pixels[0, 1])) - y0
    cv2.rectangle(crop, (cx - box, cy - box), (cx + box, cy + box), BOX_COLOUR, 1)
    return crop


def deepest_point(height_mm: np.ndarray, class_name: str) -> tuple[tuple[int, int], np.ndarray]:
    """(row, col) of the defect's extreme (highest for a bump, deepest otherwise) relative to the robustly
    fitted local surface, and that surface; only pixels where the gel is pushed in count, off the rim."""
    from inspection.tactile.measure import fit_surface

    pushed_in = height_mm > 0.02
    mask = pushed_in if pushed_in.mean() > 0.2 else np.ones_like(pushed_in)
    surface = fit_surface(height_mm, mask)
    residual = cv2.GaussianBlur(height_mm - surface, (0, 0), 1.0)
    inner = np.zeros_like(mask)
    inner[RIM_PX:-RIM_PX, RIM_PX:-RIM_PX] = True
    signed = np.where(mask & inner, residual if class_name == "bump" else -residual, -np.inf)
    row, col = np.unravel_index(int(np.argmax(signed)), signed.shape)
    return (int(row), int(col)), surface


def heightmap_figure(height_mm: np.ndarray, pixel_size_m: float, finding: TactileFinding) -> bytes:
    """PNG (680 x 260 px): the heightmap in mm with a colourbar and a scale in mm, and the profile through
    the deepest point with the fitted local surface, so the measured depth can be seen."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    height_mm = np.asarray(height_mm, np.float32)
    rows, cols = height_mm.shape
    pixel_mm = pixel_size_m * 1e3
    (row, col), surface = deepest_point(height_mm, finding.class_name)
    figure = Figure(figsize=PLOT_SIZE_IN, dpi=PLOT_DPI)
    FigureCanvasAgg(figure)
    left, right = figure.add_axes((0.07, 0.17, 0.34, 0.72)), figure.add_axes((0.63, 0.17, 0.35, 0.72))
    shown = left.imshow(height_mm, cmap="viridis", extent=(0, cols * pixel_mm, rows * pixel_mm, 0))
    colourbar = figure.colorbar(shown, ax=left, fraction=0.06, pad=0.03)
    colourbar.set_label("height (mm)", fontsize=8)
    colourbar.ax.tick_params(labelsize=7)
    y_mm = (row + 0.5) * pixel_mm
    left.axhline(y_mm, color="white", linestyle="--", linewidth=0.8)
    left.plot([(col + 0.5) * pixel_mm], [y_mm], marker="o", markersize=14, markerfacecolor="none",
              markeredgecolor="red")  # an open ring: the spot it marks stays visible
    left.set_xlabel("x (mm)", fontsize=8)
    left.set_ylabel("y (mm)", fontsize=8)
    left.tick_params(labelsize=7)
    left.set_title(f"gel heightmap, {finding.id}: {finding.class_name}", fontsize=9)
    x_mm = (np.arange(cols) + 0.5) * pixel_mm
    right.plot(x_mm, height_mm[row], color="#1f77b4", linewidth=1.2, label="measured")
    right.plot(x_mm, surface[row], color="gray", linestyle="--", linewidth=1.0, label="fitted surface")
    right.axvline((col + 0.5) * pixel_mm, color="red", linewidth=0.6)
    right.set_xlabel("x (mm)", fontsize=8)
    right.set_ylabel("height (mm)", fontsize=8)
    right.tick_params(labelsize=7)
    right.legend(fontsize=7, loc="best")
    right.set_title(f"profile, y = {y_mm:.1f} mm; depth {finding.depth_mm:.3f} mm", fontsize=9)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=PLOT_DPI)
    return buffer.getvalue()


@dataclass
class _Press:
    frame: np.ndarray | None = None
    heightmap: np.ndarray | None = None
    finding: TactileFinding | None = None
    pixel_size_m: float = 0.0
    frame_written: bool = False
    heightmap_written: bool = False


class EvidenceStore:
    """Writes evidence files as their inputs come in (thread-safe: ROS callbacks call it concurrently)."""

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.folder = self.run_dir / EVIDENCE_DIR
        self.lock = threading.Condition()
        self.camera_frames: OrderedDict[int, tuple[np.ndarray, CameraModel]] = OrderedDict()
        self.presses: OrderedDict[int, _Press] = OrderedDict()
        self.dropped = 0

    def add_camera_frame(self, stamp: int, image_rgb: np.ndarray, camera: CameraModel) -> None:
        with self.lock:
            self.camera_frames[stamp] = (image_rgb, camera)
            while len(self.camera_frames) > CAMERA_FRAMES_KEPT:
                self.camera_frames.popitem(last=False)

    def add_hypotheses(self, stamp: int, hypotheses: list[DefectHypothesis]) -> list[str]:
        """Crop every hypothesis from the frame, among those up to ``stamp`` (the frames Stage I has seen), that
        shows it best (``placement``): hypotheses accumulate over views, each seen well in some of them.
        Returns the ids that got no crop and why."""
        with self.lock:
            frames = [frame for s, frame in self.camera_frames.items() if s <= stamp]
        if not frames:
            return [f"{h.id}: no camera frame received" for h in hypotheses]
        problems = []
        for hypothesis in hypotheses:
            image, camera = max(frames, key=lambda frame: placement(frame[0].shape, frame[1], hypothesis))
            crop = camera_crop(image, camera, hypothesis)
            if crop is None:
                problems.append(f"{hypothesis.id}: outside every camera frame")
                continue
            write_bytes_atomic(self.folder / f"camera_{hypothesis.id}.png", png_bytes(crop))
        return problems

    def add_tactile_frame(self, stamp: int, image_rgb: np.ndarray) -> None:
        self._update(stamp, frame=image_rgb)

    def add_heightmap(self, stamp: int, height_mm: np.ndarray) -> None:
        self._update(stamp, heightmap=np.asarray(height_mm, np.float32))

    def add_finding(self, stamp: int, finding: TactileFinding, pixel_size_m: float) -> None:
        if not pixel_size_m > 0:
            raise InputError(f"finding {finding.id}: pixel_size_m must be positive, got {pixel_size_m!r}")
        self._update(stamp, finding=finding, pixel_size_m=pixel_size_m)

    def _update(self, stamp: int, **fields) -> None:
        with self.lock:
            press = self.presses.setdefault(stamp, _Press())
            for name, value in fields.items():
                setattr(press, name, value)
            while len(self.presses) > PENDING_LIMIT:
                self.presses.popitem(last=False)
                self.dropped += 1
            finding = press.finding
            if finding is None:
                return
            if not finding.is_defect:
                del self.presses[stamp]
                return
            if press.frame is not None and not press.frame_written:
                write_bytes_atomic(self.folder / f"tactile_{finding.id}.png", png_bytes(press.frame))
                press.frame_written, press.frame = True, None
            if press.heightmap is not None and not press.heightmap_written:
                buffer = io.BytesIO()
                np.save(buffer, press.heightmap)
                write_bytes_atomic(self.folder / f"heightmap_{finding.id}.npy", buffer.getvalue())
                write_bytes_atomic(self.folder / f"heightmap_{finding.id}.png",
                                   heightmap_figure(press.heightmap, press.pixel_size_m, finding))
                press.heightmap_written, press.heightmap = True, None
            if press.frame_written and press.heightmap_written:
                del self.presses[stamp]
            self.lock.notify_all()

    def _incomplete(self) -> list[str]:
        return [p.finding.id for p in self.presses.values()
                if p.finding is not None and p.finding.is_defect and not (p.frame_written and p.heightmap_written)]

    def settle(self, timeout_s: float) -> list[str]:
        """Wait up to ``timeout_s`` for the frames and heightmaps of findings already in (they travel on other
        topics and may come just after); returns the finding ids still lacking one."""
        with self.lock:
            self.lock.wait_for(lambda: not self._incomplete(), timeout_s)
            return self._incomplete()


def attach(run_dir: str | Path, report: InspectionReport) -> InspectionReport:
    """``report`` with each defect's evidence files (those that exist) in ``FusedDefect.evidence``: the camera
    crop of its first hypothesis that has one, the tactile frame and heightmap plot of its first finding."""
    run_dir = Path(run_dir)

    def first(kind: str, ids: tuple[str, ...]) -> dict[str, str]:
        for record_id in ids:
            relative = f"{EVIDENCE_DIR}/{kind}_{record_id}.png"
            if (run_dir / relative).is_file():
                return {kind: relative}
        return {}

    defects = [replace(d, evidence={**first("camera", d.vision_ids), **first("tactile", d.tactile_ids),
                                    **first("heightmap", d.tactile_ids)}) for d in report.defects]
    return replace(report, defects=defects)


def latent_exemplar_file(latent: int) -> str:
    """Where a latent's exemplar strip lies, relative to the run folder."""
    return f"{EVIDENCE_DIR}/latent_{latent}.png"


def write_latent_exemplars(run_dir: str | Path, report: InspectionReport,
                           strips: Mapping[int, np.ndarray]) -> list[int]:
    """Write the exemplar strip (RGB) of every latent the report's explanations name, once per latent, so
    that report.html shows beside each explained defect what its latents fire on; returns the latents
    named that ``strips`` lacks (an atlas that is not the explainer's that ran)."""
    run_dir = Path(run_dir)
    named = sorted({e.latent for d in report.defects for e in d.explanation})
    for latent in named:
        if latent in strips:
            write_bytes_atomic(run_dir / latent_exemplar_file(latent), png_bytes(strips[latent]))
    return [latent for latent in named if latent not in strips]


def missing_note(kind: str, source: Source) -> str:
    """What the report says where a defect found by ``source`` has no ``kind`` evidence file."""
    if kind == "camera":
        return "not seen by the camera" if source == Source.TACTILE else "camera crop not kept"
    if source == Source.VISION:
        return "no tactile contact"
    return "tactile frame not received" if kind == "tactile" else "heightmap not received"
