"""One simulated part through the whole pipeline, once per ablation, with the nodes' own core calls.

The steps are the coordinator's: capture the camera views (sim node: ``SimulatedCell.capture`` of each
view of its plan, with that view's pose), Stage I (vision node: ``StageOne.inspect`` frame by frame,
hypotheses merged across frames), plan (planner node: ``TactileScanPlanner.plan`` over the scan
regions, and the full-coverage raster as the baseline), execute (sim node: ``SimulatedCell.step`` while
the arm follows the trajectory; tactile node: ``StageTwo.analyse`` per press), then fuse and score
(coordinator: ``build_report`` against ``SimulatedCell.ground_truth``). Only the transport differs from
`inspection demo`: no DDS between the steps, and arm time runs as fast as it can be simulated.

Ablations: ``shipped`` (the pipeline exactly as the parameter file configures it: what `inspection demo`
and the launch file run; the headline), ``vision-only`` (Stage I alone, no presses), ``paper`` (presses
over the regions Stage I flags at the paper's threshold, ``PAPER_CONFIDENCE``, Agarwal et al.),
``low-confidence`` (regions of detections down to a lower confidence, every one pressed, so touch can
confirm or reject weak flags), ``budgeted`` (the same regions, pressed where doubt is within a press
budget, ``planning.doubt``; one ablation ``budgeted-N`` per budget of N presses per part) and
``full-coverage`` (the whole surface rastered with the same footprint).
"""
from __future__ import annotations

import hashlib
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from inspection.cell import CellConfig
from inspection.errors import InputError
from inspection.fusion.scoring import TruthDefect, match
from inspection.fusion.summary import RunEvidence, build_report, truth_from_scene
from inspection.records import DefectHypothesis, FusedDefect, TactileFinding, Verdict
from inspection.sim.cell_sim import SimulatedCell
from inspection.sim.scene import Scene
from inspection.vision.stage import StageOneResult

if TYPE_CHECKING:
    from inspection.planning.doubt import PressBudget
    from inspection.planning.planner import Plan
    from inspection.geometry.surface import PartSurface
    from inspection.vision.localize import CameraView

ABLATIONS = ("shipped", "vision-only", "paper", "low-confidence", "budgeted", "full-coverage")
PAPER_CONFIDENCE = 0.25  # the paper ablation's Stage I threshold, whatever the shipped vision_node.confidence
PART_SCHEMA = "inspection.campaign.part/6"  # 2: truth says camera_resolvable; 3: Stage II masks the part's edge,
# overlapping presses merge, the cell presses the smooth surface; 4: transits that sweep the part go higher or
# via home, fusion keeps one defect per spot (R6); 5: regions say their finder, calibrated apart (results
# differ: older parts run again); 6: photometric bursts and the shape finder, burst_s
REGION_MATCH_M = 0.005  # as the tactile node: a press belongs to the nearest planned press within this + depth
SAMPLES_PER_DWELL = 4  # the arm is sampled this often per dwell, so every press is seen resting at least 3 times


@dataclass(frozen=True)
class PartSpec:
    """What decides one simulated part: its shape and defects come from ``default_rng([seed, index])``."""

    seed: int
    index: int
    part_kind: str = "random"
    part_scale: float = 1.0  # every length of the drawn part (radii too) times this: a smaller, similar part
    width: int = 0  # camera resolution; 0: the cell camera's
    height: int = 0
    defect_free: bool = False  # the same part and finish with its defects removed (false findings per press)


def make_scene(spec: PartSpec) -> tuple[Scene, int]:
    """The part with its finish and defects, and the seed of the simulated sensors' noise."""
    from inspection.sim.parts import build_part, random_part
    from inspection.sim.scene import random_scene

    rng = np.random.default_rng([spec.seed, spec.index])
    part = random_part(rng) if spec.part_kind == "random" else random_part(rng, spec.part_kind)
    if spec.part_scale != 1.0:
        part = build_part({k: v * spec.part_scale if k.endswith("_m") else v for k, v in part.params.items()})
    scene = random_scene(rng, part)  # drawn in full either way, so the noise seed and the finish stay the same
    if spec.defect_free:
        scene.defects = []
    return scene, int(rng.integers(2**32))


def model_path(name: str) -> str:
    """A path as given, or a bare name in the package's models/ folder (as the tactile node resolves it)."""
    from inspection.paths import model_file

    return name if "/" in name else str(model_file(name))


def pipeline_files(cell_file: Path | None, params: dict[str, dict[str, Any]]) -> dict[str, Path]:
    """The files a ``PartRunner`` loads, by role: what a part's result depends on besides the parameters."""
    from inspection import paths
    from inspection.vision.detector import resolve_model_path

    detector = resolve_model_path(params["vision_node"]["model"])
    tactile = params["tactile_node"]
    files = {"detector": detector, "calibration": Path(model_path(tactile["calibration"])),
             "classifier": Path(model_path(tactile["classifier"])),
             "acceptance": Path(tactile["acceptance_file"]) if tactile["acceptance_file"]
             else paths.config_file("acceptance.yaml"),
             "cell": cell_file or paths.config_file("cell.yaml")}
    if detector.with_suffix(".json").is_file():  # the detector's sidecar: class names and input size
        files["detector_sidecar"] = detector.with_suffix(".json")
    if params["planner_node"]["defect_calibration"]:  # the press budget's probabilities (shipped, budgeted)
        files["defect_calibration"] = Path(model_path(params["planner_node"]["defect_calibration"]))
    return files


def file_digests(files: dict[str, Path]) -> dict[str, str]:
    """The sha256 of each file, by the same role."""
    digests = {}
    for role, path in files.items():
        try:
            digests[role] = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as exc:
            raise InputError(f"{path}: cannot read ({exc.strerror})") from exc
    return digests


CORE_SOURCE = "core source"  # the role of the code's own digest beside the files' (see pipeline_digests)
_PACKAGE_DIR = Path(__file__).resolve().parents[1]
_NOT_RUN_BY_A_PART = ("nodes", "cli")  # the ROS nodes and the CLI wrap the core; a part never runs them


def core_source_digest(package_dir: Path = _PACKAGE_DIR) -> str:
    """The sha256 of the ROS-free core's source: every module of the package but the nodes' and the CLI's.

    A part's result depends on the code as much as on the models and config, so a campaign resumed after
    a change to fusion, say, runs its parts again instead of mixing records of two versions."""
    digest = hashlib.sha256()
    for path in sorted(package_dir.rglob("*.py")):
        relative = path.relative_to(package_dir)
        if relative.parts[0] not in _NOT_RUN_BY_A_PART:
            digest.update(relative.as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def pipeline_digests(cell_file: Path | None, params: dict[str, dict[str, Any]]) -> dict[str, str]:
    """The sha256 of each of ``pipeline_files`` by role, and of the core's source (``CORE_SOURCE``)."""
    return {**file_digests(pipeline_files(cell_file, params)), CORE_SOURCE: core_source_digest()}


def _size_mm(extent_m: Sequence[float]) -> float:
    return 1000.0 * float(max(extent_m))


def _matched(predicted: Sequence[tuple[float, float, float]], truth: list[TruthDefect]) -> list[int | None]:
    """For each prediction, the index of the true defect it matches (the report's scoring), or None."""
    found: list[int | None] = [None] * len(predicted)
    for p, t in match(predicted, truth).pairs:
        found[p] = t
    return found


def _stage1_rows(hypotheses: list[DefectHypothesis], truth: list[TruthDefect]) -> list[dict[str, Any]]:
    matched = _matched([h.position for h in hypotheses], truth)
    return [{"class_name": h.class_name, "confidence": round(h.confidence, 4), "size_mm": round(_size_mm(h.extent_m), 3),
             "truth": t} for h, t in zip(hypotheses, matched)]


def _final_rows(defects: list[FusedDefect], truth: list[TruthDefect]) -> list[dict[str, Any]]:
    matched = _matched([d.position for d in defects], truth)
    return [{"class_name": d.class_name, "source": d.source.value, "size_mm": round(max(d.width_mm, d.length_mm), 3),
             "depth_mm": None if d.depth_mm is None else round(d.depth_mm, 4), "truth": t}
            for d, t in zip(defects, matched)]


def _region_rows(result: StageOneResult, truth: list[TruthDefect], plan: Plan | None) -> list[dict[str, Any]]:
    """Per scan region: its confidence and who found it (the detector or the spot filter), whether one of its
    hypotheses matched a true defect (what ``inspection train doubt`` calibrates on) and whether the plan
    pressed it."""
    matched = dict(zip((h.id for h in result.hypotheses), _matched([h.position for h in result.hypotheses], truth)))
    pressed = {r for p in plan.presses for r in p.press.regions} if plan is not None else set()
    return [{"confidence": round(r.confidence, 4), "finder": r.finder,
             "defect": any(matched.get(h) is not None for h in r.hypothesis_ids),
             "pressed": r.id in pressed} for r in result.regions]


def under_the_gel(truth: list[TruthDefect], press_poses: list[np.ndarray], cell: CellConfig,
                  depth_reach_m: float = 0.005) -> list[int]:
    """The indices of the true defects whose centre lay inside the gel's imaged area at some press frame
    (``press_poses``: the sensor in the part frame), within ``depth_reach_m`` of the sensor plane along its
    axis: what touch had a chance to feel, whether or not it did."""
    if not truth or not press_poses:
        return []
    half_size = 0.5 * np.array(cell.tactile.footprint_m)
    centres = np.array([t.center for t in truth], dtype=float)
    touched = np.zeros(len(truth), dtype=bool)
    for pose in press_poses:
        in_sensor = (centres - pose[:3, 3]) @ pose[:3, :3]  # rows: each centre in the sensor frame
        touched |= np.all(np.abs(in_sensor[:, :2]) <= half_size, axis=1) & (np.abs(in_sensor[:, 2]) <= depth_reach_m)
    return [int(i) for i in np.flatnonzero(touched)]


def ablation_base(name: str) -> str:
    """``budgeted-8`` -> ``budgeted``; every other ablation is its own base."""
    return "budgeted" if name.startswith("budgeted-") else name


def press_budget(name: str) -> int:
    """N of ``budgeted-N``: presses per part."""
    return int(name.removeprefix("budgeted-"))


@dataclass
class PreparedPart:
    """One part set up in the simulated cell: what every ablation of it shares."""

    spec: PartSpec
    scene: Scene
    sim: SimulatedCell
    noise_seed: int
    truth: list[TruthDefect]
    part_surface: PartSurface  # Stage I's ray casts
    surface: PartSurface  # the planner's mesh
    frames: list[np.ndarray]
    views: list[CameraView]  # one per frame
    bursts: list[np.ndarray] | None  # one photometric burst per frame when the shape finder is on, else None
    burst_s: float  # the camera's time for the bursts (flashes x flash_s): cycle time beside the arm's
    full_coverage_presses: int
    full_plan: Plan | None  # the full-coverage raster; None when the planner refused it
    full_plan_error: str
    wall_s: dict[str, float]  # "shared" (scene, truth, frames) and "baseline_plan"


class PartRunner:
    """The pipeline's models and planner, loaded once per process and reused for every part."""

    def __init__(self, cell: CellConfig, params: dict[str, dict[str, Any]], low_confidence: float | None) -> None:
        from inspection.planning.planner import PlannerSettings, build_planner
        from inspection.tactile.stage import StageTwo
        from inspection.vision.detector import DefectDetector, DetectorSettings, check_pipeline_model

        self.cell, self.params, self.low_confidence = cell, params, low_confidence
        vision = params["vision_node"]
        check_pipeline_model(vision)  # a detector with classes not ours: named, before any part
        self.detector_settings = DetectorSettings.from_params(vision)
        # One detector per Stage I threshold the ablations use (the shipped one loaded now: a bad model fails here).
        self.detectors = {vision["confidence"]: DefectDetector.load(vision["model"], self.detector_settings)}
        self.planner, _backend = build_planner(cell, PlannerSettings.from_params(params["planner_node"]))
        tactile = params["tactile_node"]
        self.stage_two = StageTwo.load(model_path(tactile["calibration"]), model_path(tactile["classifier"]),
                                       tactile["acceptance_file"] or None, tactile["device"])

    def run(self, spec: PartSpec, ablations: Sequence[str], done: Callable[[str, dict[str, Any]], None]) -> None:
        """Run ``ablations`` on the part of ``spec``; ``done(ablation, record)`` as each one finishes."""
        part = self.prepare(spec)
        stage_one: dict[float, tuple[StageOneResult, float]] = {}
        for name in ablations:
            confidence = self.confidence(name)
            if confidence not in stage_one:
                stage_one[confidence] = self.stage_one(part, confidence)
            done(name, self.ablation(part, name, *stage_one[confidence]))

    def confidence(self, ablation: str) -> float:
        """The Stage I threshold of an ablation: the shipped one's, the low one (touch decides), or the paper's."""
        base = ablation_base(ablation)
        if base == "shipped":
            return self.params["vision_node"]["confidence"]
        if base in ("low-confidence", "budgeted"):
            if self.low_confidence is None:
                raise ValueError(f"ablation {ablation}: the runner was made without a low confidence")
            return self.low_confidence
        return PAPER_CONFIDENCE

    def budget(self, ablation: str) -> PressBudget | None:
        """The press budget of an ablation: the planner's own (shipped: None), N presses per part with the
        planner's calibration (``budgeted-N``), or none (every region pressed)."""
        from inspection.planning.doubt import PressBudget

        base = ablation_base(ablation)
        if base == "shipped":
            return None
        if base == "budgeted":
            return PressBudget(press_budget(ablation), 0.0, self.planner.budget.calibration)
        return PressBudget()

    def prepare(self, spec: PartSpec) -> PreparedPart:
        """The simulated cell with its part, the ground truth, the camera frames and the full-coverage baseline."""
        from inspection.geometry.mesh_io import export_stl, load_mesh
        from inspection.vision.localize import CameraView

        started = time.perf_counter()
        scene, noise_seed = make_scene(spec)
        sim_params = self.params["sim_node"]
        sim = SimulatedCell(self.cell, scene, spec.width or None, spec.height or None, seed=noise_seed,
                            views=sim_params["camera_views"], view_overlap=sim_params["view_overlap"])
        with tempfile.TemporaryDirectory(prefix="campaign-part-") as folder:
            # The vision and planner nodes read the part mesh the sim node exports: so do we.
            mesh = export_stl(scene.part, Path(folder) / "part.stl")
            part_surface = surface = load_mesh(mesh)
        rendered = sim.camera  # every view shares the cell camera's lens, as camera_info tells the vision node
        camera = replace(self.cell.camera, width=rendered.width, height=rendered.height, fx=rendered.fx,
                         fy=rendered.fy, cx=rendered.cx, cy=rendered.cy)
        # The coordinator captures capture_views frames (0: one per planned view); the sim node cycles its plan
        # and publishes each frame's camera pose, which the vision node casts the frame from.
        count = self.params["coordinator_node"]["capture_views"] or len(sim.views)
        rig = self.cell.camera.photometric
        # The bursts are taken when the shape finder reads them (its settings say whether it is on).
        with_bursts = rig is not None and self.params["vision_node"]["shape_detector"]
        frames, views, bursts = [], [], []
        for k in range(count):
            view = k % len(sim.views)
            frames.append(sim.capture(view).image)
            if with_bursts:
                bursts.append(sim.capture_burst(view))
            views.append(replace(CameraView.from_cell(self.cell, f"frame{k}", sim.world_from_camera(view)),
                                 camera=camera))
        burst_s = count * len(rig.azimuths_deg) * rig.flash_s if with_bursts else 0.0
        truth = truth_from_scene(sim.ground_truth())  # after the captures: their renders give the visibility
        # The planner node's baseline: the whole surface rastered with the same footprint.
        full_coverage_presses = len(self.planner.tool_paths(surface, full_coverage=True).presses)
        shared_s = time.perf_counter() - started
        full_plan, full_plan_error = None, ""
        try:
            full_plan = self.planner.plan(surface, full_coverage=True)
        except InputError as exc:
            full_plan_error = str(exc)
        return PreparedPart(spec, scene, sim, noise_seed, truth, part_surface, surface, frames, views,
                            bursts if with_bursts else None, burst_s, full_coverage_presses, full_plan, full_plan_error,
                            {"shared": shared_s, "baseline_plan": time.perf_counter() - started - shared_s})

    def stage_one(self, part: PreparedPart, confidence: float) -> tuple[StageOneResult, float]:
        """Stage I with the detector at ``confidence``, frame by frame as the vision node runs it (each
        frame's hypotheses merged into those of the frames before); its result and wall time."""
        from inspection.vision.detector import DefectDetector
        from inspection.vision.localize import merge_hypotheses, scan_regions
        from inspection.vision.shape import ShapeSettings
        from inspection.vision.spots import SpotSettings
        from inspection.vision.stage import StageOne

        if confidence not in self.detectors:
            self.detectors[confidence] = DefectDetector.load(self.params["vision_node"]["model"],
                                                             replace(self.detector_settings, confidence=confidence))
        started = time.perf_counter()
        vision = self.params["vision_node"]
        rig = self.cell.camera.photometric
        stage = StageOne(self.detectors[confidence], part.part_surface, vision["merge_distance_m"],
                         vision["region_margin_m"], SpotSettings.from_params(vision),
                         ShapeSettings.from_params(vision) if part.bursts is not None else None,
                         rig.light_directions() if rig is not None else None, vision["detexture"])
        result = StageOneResult()
        for index, (frame, view) in enumerate(zip(part.frames, part.views)):
            found = stage.inspect([frame], [view], [part.bursts[index]] if part.bursts is not None else None)
            result.bad_bursts += found.bad_bursts
            result.detections += found.detections
            result.off_part += found.off_part
            result.hypotheses = merge_hypotheses(result.hypotheses + found.hypotheses, vision["merge_distance_m"])
        result.regions = scan_regions(result.hypotheses, vision["region_margin_m"])
        return result, time.perf_counter() - started

    def ablation(self, part: PreparedPart, name: str, result: StageOneResult, stage1_s: float) -> dict[str, Any]:
        """Plan, press, fuse and score one ablation as the coordinator runs an inspection; its part record."""
        spec = part.spec
        # The same noise whatever else runs (and for every budget of the budgeted ablation).
        part.sim.rng = np.random.default_rng([part.noise_seed, ABLATIONS.index(ablation_base(name))])
        evidence = RunEvidence(hypotheses=result.hypotheses, full_coverage_presses=part.full_coverage_presses)
        wall = {**part.wall_s, "stage1": stage1_s, "plan": 0.0, "execute": 0.0}
        plan, touched = None, []
        if name == "full-coverage":
            plan = part.full_plan
            if part.full_plan_error:
                evidence.missing.append(f"stopped in phase plan: {part.full_plan_error}")
        elif name != "vision-only" and result.regions:
            started = time.perf_counter()
            try:
                plan = self.planner.plan(part.surface, result.regions, budget=self.budget(name))
            except InputError as exc:  # refused as unsafe, or a bad region: the coordinator's partial report
                evidence.missing.append(f"stopped in phase plan: {exc}")
            wall["plan"] = time.perf_counter() - started
        if plan is not None:
            evidence.planned_presses, evidence.cycle_time_s = len(plan.presses), plan.cycle_time_s
            evidence.missing += [f"region {u.region}: unreachable ({u.reason})" for u in plan.unreachable]
            started = time.perf_counter()
            pairs, press_poses = self.execute(part, plan)
            wall["execute"] = time.perf_counter() - started
            touched = under_the_gel(part.truth, press_poses, self.cell)
            evidence.findings = [f for f, _ in pairs]
            evidence.verdicts = {f.id: v for f, v in pairs}
        started = time.perf_counter()
        report, fusion = build_report(f"campaign-{spec.seed}-{spec.index}-{name}", f"sim-{spec.seed}-{spec.index}",
                                      evidence, part.truth)
        vision_only, _ = build_report("vision-only", "vision-only", RunEvidence(hypotheses=result.hypotheses),
                                      part.truth)
        wall["fuse"] = time.perf_counter() - started
        wall["total"] = sum(wall.values())
        params = part.scene.part.params
        return {
            "schema": PART_SCHEMA, "index": spec.index, "ablation": name,
            "part": {"kind": params["kind"], "length_m": round(params["length_m"], 4),
                     "width_m": round(params["width_m"], 4), "area_m2": round(part.surface.area, 5)},
            "truth": [{"id": t.id, "class_name": t.class_name, "size_mm": round(_size_mm(t.extent_m), 3),
                       "depth_mm": round(1000 * abs(t.depth_m), 4), "camera_visible": bool(t.camera_visible),
                       "camera_resolvable": bool(t.camera_resolvable)}
                      for t in part.truth],
            "stage1": _stage1_rows(result.hypotheses, part.truth),
            "regions": _region_rows(result, part.truth, plan),
            "final": _final_rows(report.defects, part.truth),
            "touched": touched,
            "vision_only_truth": sorted(t for t in _matched([d.position for d in vision_only.defects], part.truth)
                                        if t is not None),
            "report_summary": {k: v for k, v in report.summary.to_json().items() if k not in ("schema_version", "kind")},
            "rejected": len(fusion.rejected),
            "planned_presses": evidence.planned_presses,
            "tactile_findings": len(evidence.findings),
            "unreachable": len(plan.unreachable) if plan is not None else 0,
            "skipped_regions": len(plan.skipped) if plan is not None else 0,
            "cycle_time_s": round(plan.cycle_time_s, 3) if plan is not None else 0.0,
            "burst_s": round(part.burst_s, 3),
            "full_coverage_presses": part.full_coverage_presses,
            "full_coverage_cycle_time_s": round(part.full_plan.cycle_time_s, 3) if part.full_plan is not None else None,
            "complete": report.complete, "missing": report.missing,
            "wall_s": {k: round(v, 3) for k, v in wall.items()},
        }

    def execute(self, part: PreparedPart, plan: Plan) -> tuple[list[tuple[TactileFinding, Verdict]], list[np.ndarray]]:
        """The arm follows the plan's trajectory in the simulated cell; each press frame goes through Stage II,
        which knows where the part ends from the mesh the planner used (as the tactile node's ``part_mesh``).
        Returns Stage II's findings and verdicts, and the sensor's pose in the part frame at every press frame."""
        from inspection.tactile.stage import NoContact

        sim = part.sim
        positions, times = plan.trajectory.as_arrays()
        planned = [(p.press.regions[0] if p.press.regions else "", p.press.position) for p in plan.presses]
        self.stage_two.set_background(sim.background_frame())
        self.stage_two.set_part(part.surface, self.params["tactile_node"]["part_edge_margin_m"])
        sim.robot.start(plan.trajectory.joint_names, positions, times, 0.0)
        period = self.planner.settings.dwell_s / SAMPLES_PER_DWELL
        pairs: list[tuple[TactileFinding, Verdict]] = []
        poses: list[np.ndarray] = []
        events = (event for now in np.arange(0.0, times[-1] + 2 * period, period) for event in sim.step(float(now)))
        for event in events:
            poses.append(event.sensor_to_part)
            contact = event.sensor_to_part[:3, 3]
            nearest = min(planned, key=lambda p: float(np.linalg.norm(p[1] - contact)), default=None)
            region = ""
            if nearest is not None and np.linalg.norm(nearest[1] - contact) < REGION_MATCH_M + event.depth_m:
                region = nearest[0]
            try:
                result = self.stage_two.analyse(event.frame.image, event.sensor_to_part, f"t{event.index}", region,
                                                event.index, event.depth_m)
            except (NoContact, InputError):
                continue  # the tactile node logs and skips it; the report counts the press as missing
            pairs.append((result.finding, result.verdict))
        return pairs, poses
