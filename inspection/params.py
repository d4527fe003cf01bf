"""Every node parameter, declared once: name, default (which fixes the type), range, description.

The nodes declare these with ROS ParameterDescriptors; the CLI and the tests validate
config/pipeline.yaml against the same table (see inspection.config). The table and its ParamSpec
record import nothing of the package, so the loader can import them and never the reverse.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ParamSpec:
    """One node parameter: its default fixes the type; ranges and choices are checked on load."""

    name: str
    default: Any
    description: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] | None = None
    read_only: bool = False

    @property
    def type_name(self) -> str:
        return _type_name(self.default)


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
        return "string[]"
    if isinstance(value, (list, tuple)) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        return "float[]"
    raise TypeError(f"unsupported parameter default {value!r}")


CELL_FILE = ParamSpec("cell_file", "", "cell description; empty means config/cell.yaml of the package")
DIAGNOSTICS_PERIOD = ParamSpec("diagnostics_period_s", 1.0,
                               "publish counters and memory on inspection/diagnostics this often",
                               low=0.1, high=3600.0)

IMAGE_PROBE = (
    ParamSpec("mode", "receive", "publish a test pattern, or receive and count frames", choices=("publish", "receive")),
    ParamSpec("topic", "camera/image_raw", "image topic to publish on or listen to"),
    ParamSpec("width", 640, "test-pattern width in pixels", low=1, high=16384),
    ParamSpec("height", 480, "test-pattern height in pixels", low=1, high=16384),
    ParamSpec("encoding", "rgb8", "test-pattern encoding", choices=("rgb8", "bgr8", "mono8", "mono16")),
    ParamSpec("rate_hz", 30.0, "publish rate", low=0.1, high=1000.0),
    ParamSpec("count", 0, "frames to publish or receive before exiting; 0 runs until stopped", low=0),
    ParamSpec("frame_id", "camera_optical", "header frame of published frames"),
    ParamSpec("reliable", False, "reliable QoS instead of the REP-2003 sensor-data (best-effort) profile"),
    ParamSpec("idle_timeout_s", 3.0, "receive mode: finish this long after the last frame", low=0.1, high=3600.0),
    ParamSpec("report_file", "", "receive mode: write frames received, lost and rate as JSON here at exit"),
)

PLANNER = (
    ParamSpec("footprint_overlap", 0.2, "fraction of the gel footprint shared by neighbouring presses", low=0.0, high=0.9),
    ParamSpec("dwell_s", 0.5, "time the gel rests pressed in while the tactile image is taken", low=0.0, high=60.0),
    ParamSpec("transit_clearance_m", 0.1, "sensor lift above the surface for transits that pass too close otherwise",
              low=0.0, high=1.0),
    ParamSpec("line_step_m", 0.002, "spacing of IK points along the straight press and retreat lines",
              low=1e-4, high=0.05),
    ParamSpec("min_manipulability", 0.005, "poses below this Yoshikawa manipulability are refused as near-singular",
              low=0.0, high=1.0),
    ParamSpec("sensor_radius_m", 0.02, "the tactile sensor body is a capsule of this radius ending at the gel",
              low=0.0, high=0.2),
    ParamSpec("min_clearance_m", 0.005, "smallest allowed gap between the arm's collision geometry and the part",
              low=0.0, high=0.5),
    ParamSpec("max_region_offset_m", 0.01, "a region centre farther than this from the mesh is rejected as bad input",
              low=1e-4, high=1.0),
    ParamSpec("two_opt_passes", 20, "2-opt improvement passes over the press order", low=0, high=1000),
    ParamSpec("ik_max_iterations", 150, "damped least squares iterations per IK solve", low=10, high=10000),
    ParamSpec("motion_backend", "auto", "auto: MoveIt 2 (moveit_py) when importable, else builtin; moveit: required",
              choices=("auto", "builtin", "moveit")),
    ParamSpec("moveit_group", "ur_manipulator", "MoveIt planning group of the arm (moveit backend)"),
    ParamSpec("defect_calibration", "", "map from a region's detector confidence to its probability of a defect "
              "(`inspection train doubt`; a bare name is looked up in models/); empty: the confidence itself"),
    ParamSpec("max_presses", 0, "press budget per part: the presses expected to find the most defects are kept "
              "until it is spent; 0: no cap (with residual_risk 0, every region is pressed: the paper's method)",
              low=0, high=100000),
    ParamSpec("residual_risk", 0.0, "stop pressing once the regions left hold at most this many expected defects "
              "(calibrated probabilities summed); 0: no such stop", low=0.0, high=1000.0),
    ParamSpec("part_mesh", "", "part mesh (STL/OBJ/PLY) in the part frame, metres; the node plans on this surface"),
    CELL_FILE,
    ParamSpec("plan_on_regions", True, "plan as soon as new scan regions arrive (else only on the plan service)"),
)

VISION = (
    ParamSpec("model", "defect_detector.onnx", "detector file (.onnx or .pt); a bare name is looked up in models/"),
    ParamSpec("class_map", "", "rename the detector's classes to the pipeline's, 'theirs=ours,...' (a fine-tune "
              "with its own names); a class that is neither ours nor mapped stops the node at start"),
    ParamSpec("device", "cpu", "'cpu', or a CUDA index such as '0' (used when present)"),
    ParamSpec("confidence", 0.25, "Stage I threshold: detections from it up go to the planner (the weak ones as "
              "doubt that touch settles); below it they are dropped", low=0.0, high=1.0),
    ParamSpec("iou", 0.5, "NMS and tile-merge IoU: boxes of one class overlapping more are one defect",
              low=0.05, high=0.95),
    ParamSpec("tile_size", 640, "square tiles of this many pixels, the model's input size; 0 = no slicing",
              low=0, high=4096),
    ParamSpec("tile_overlap", 0.2, "share of a tile overlapping its neighbour: a small defect on a border is whole in one",
              low=0.0, high=0.9),
    ParamSpec("full_frame_pass", True, "also run the whole frame, shrunk, to catch defects larger than a tile"),
    ParamSpec("tile_batch", 16, "tiles per forward pass", low=1, high=256),
    ParamSpec("max_detections", 300, "most detections kept per frame", low=1, high=10000),
    ParamSpec("region_margin_m", 0.005, "scan region radius = half the defect's larger extent plus this",
              low=0.0, high=0.2),
    ParamSpec("merge_distance_m", 0.01, "same-class hypotheses from several views closer than this are one defect",
              low=0.0, high=0.5),
    ParamSpec("spot_detector", False, "also look for pits too small for the detector: round spots of the shading "
              "(vision.spots), handed on as pit hypotheses for touch to settle"),
    ParamSpec("spot_contrast", 8.0, "a spot's filter response over the mean response around it", low=1.0, high=100.0),
    ParamSpec("spot_roundness", 0.3, "smaller over larger curvature of a spot's shading (1 a dot, 0 a line)",
              low=0.0, high=1.0),
    ParamSpec("spot_confidence", 0.2, "confidence of a spot's hypothesis; below fusion's threshold for an untouched "
              "detection (0.25) a spot only directs touch; below vision_node.confidence spots are off",
              low=0.0, high=1.0),
    ParamSpec("spot_max_per_frame", 20, "the strongest spots kept per frame", low=0, high=1000),
    ParamSpec("spot_on_burst", False, "also run the spot filter on each flash image of the view's photometric "
              "burst, where the shape finder reads one: a pit's shadow under one flash outshines its ring-lit trace"),
    ParamSpec("spot_clipped_level", 256, "grey level (0-255) from which a pixel counts as clipped: no spot is "
              "looked for within the filter's reach of one (a glossy finish's saturated highlight; 256: none)",
              low=1, high=256),
    ParamSpec("shape_detector", False, "also look for shape the ring-lit frame hides (dents, bumps, scratches): "
              "photometric stereo on each view's burst of flashes (cell.yaml camera.photometric; vision.shape), "
              "handed on as hypotheses for touch to settle"),
    ParamSpec("shape_background_sigma_px", 12.0, "the part's own smooth shape, removed from the burst's slopes "
              "(Gaussian sigma, pixels)", low=2.0, high=200.0),
    ParamSpec("shape_contrast", 6.0, "a shape finding's residual slope over its usual level around it",
              low=1.0, high=100.0),
    ParamSpec("shape_min_slope", 0.02, "weakest residual slope (rad) that counts as shape, however quiet around it",
              low=0.0, high=1.0),
    ParamSpec("shape_confidence", 0.2, "confidence of a shape finding's hypothesis; below fusion's threshold for an "
              "untouched detection it only directs touch; below vision_node.confidence the finder is off",
              low=0.0, high=1.0),
    ParamSpec("shape_max_per_frame", 20, "the strongest shape findings kept per burst", low=0, high=1000),
    ParamSpec("detexture", False, "where a frame's finish repeats (a composite's weave, machining grooves), take it "
              "out and let the detector look again at the plain frame (vision.texture)"),
    ParamSpec("part_mesh", "", "part mesh (STL/OBJ/PLY) in the part frame, metres, onto which boxes are cast"),
    ParamSpec("explain", False, "run the explained detector (SAE spliced in, LoRA adapters merged; the .pt weights "
              "of model) so each detection carries its top SAE latents, with no second pass"),
    ParamSpec("explainer", "defect_explainer.pt", "explainer file (`inspection explain adapt`); a bare name is looked "
              "up in models/"),
    CELL_FILE,
    DIAGNOSTICS_PERIOD,
)

RECORDER = (
    ParamSpec("output", "", "MCAP file to write (required); '{time}' becomes the UTC start time; never overwritten"),
    ParamSpec("topics", ["*"], "topics to record, glob patterns on the full name ('/camera/*'); '*' = every topic"),
    ParamSpec("exclude", ["/parameter_events"], "topics never recorded, glob patterns; [''] excludes nothing"),
    ParamSpec("discovery_period_s", 1.0, "re-scan the ROS graph for new topics and publishers this often",
              low=0.05, high=3600.0),
    ParamSpec("flush_period_s", 1.0, "close the open chunk and write it out this often: what a SIGKILL can lose",
              low=0.05, high=3600.0),
    ParamSpec("chunk_size", 262144, "bytes of messages per MCAP chunk (compression unit)", low=1024, high=1 << 30),
    ParamSpec("compression", "zstd", "chunk compression", choices=("zstd", "none")),
    ParamSpec("max_bytes", 0, "stop recording once this many message bytes are written; 0 = no limit", low=0),
)

SIM = (
    ParamSpec("seed", 0, "random seed of the simulated part, defects, lighting noise and sensor noise", low=0),
    ParamSpec("scene_file", "", "scene JSON to simulate (from `inspection sim`); empty: a random scene from seed"),
    ParamSpec("part_kind", "cylinder_panel", "shape of the random part",
              choices=("random", "cylinder_panel", "dome", "saddle", "leading_edge")),
    ParamSpec("image_width", 0, "rendered camera width in pixels; 0 uses cell.yaml", low=0, high=16384),
    ParamSpec("image_height", 0, "rendered camera height in pixels; 0 uses cell.yaml", low=0, high=16384),
    ParamSpec("camera_rate_hz", 0.0, "free-running camera rate; 0 renders only on the sim/capture service",
              low=0.0, high=30.0),
    ParamSpec("camera_views", "grid", "camera view plan: 'grid' = normal views at the cell camera's stand-off "
              "covering the part (each capture renders the next), 'fixed' = the cell camera only",
              choices=("grid", "fixed")),
    ParamSpec("view_overlap", 0.2, "share of a grid view's footprint overlapping its neighbour", low=0.0, high=0.9),
    ParamSpec("joint_state_rate_hz", 50.0, "arm simulation and joint_states rate", low=1.0, high=1000.0),
    ParamSpec("time_scale", 1.0, "simulated seconds per wall-clock second (> 1 runs the arm faster)",
              low=0.01, high=100.0),
    ParamSpec("export_mesh", "", "write the simulated part mesh (STL, part frame) here for the planner"),
    CELL_FILE,
)

TACTILE = (
    ParamSpec("calibration", "tactile_calibration.npz", "colour-to-slope lookup; a bare name is looked up in models/"),
    ParamSpec("classifier", "tactile_classifier.pt", "classifier weights; a bare name is looked up in models/"),
    ParamSpec("acceptance_file", "", "acceptance limits; empty means config/acceptance.yaml of the package"),
    ParamSpec("reference_file", "", "good-press reference from `inspection tactile reference`; empty: no anomaly "
              "gate (every contact is classified)"),
    ParamSpec("device", "cpu", "'cpu', or a CUDA device such as 'cuda:0'"),
    ParamSpec("part_mesh", "", "part mesh (part frame, metres): where the part ends under each press; empty: "
              "guessed from each image (and not applied to the good-press reference's anomaly map)"),
    ParamSpec("part_edge_margin_m", 0.0025, "gel this close to the mesh's edge is left out too: press pose "
              "error (part registration, arm) plus the edge's rounding", low=0.0, high=0.01),
    ParamSpec("part_frame", "part", "frame of the published finding markers"),
    DIAGNOSTICS_PERIOD,
)

COORDINATOR = (
    ParamSpec("capture_service", "sim/capture", "Trigger service that makes the camera take one frame"),
    ParamSpec("capture_views", 0, "camera frames taken per inspection; 0 = one per pose of the latched "
              "camera/view_plan (1 when none comes within view_plan_timeout_s)", low=0, high=100),
    ParamSpec("view_plan_timeout_s", 5.0, "capture_views 0: wait this long for camera/view_plan",
              low=0.1, high=3600.0),
    ParamSpec("trajectory_topic", "joint_trajectory", "where the arm's trajectory controller takes trajectories"),
    ParamSpec("run_root", "runs", "folder under which each inspection gets its run folder"),
    ParamSpec("part_id", "part", "identifier of the inspected part, written into the report"),
    ParamSpec("part_mesh", "", "part mesh (part frame, metres); its outline is drawn in the report's overview"),
    ParamSpec("cell_file", "", "cell description (camera pose, for the report's camera crops); empty means "
              "config/cell.yaml of the package"),
    ParamSpec("time_scale", 1.0, "how much faster than real time the arm executes (simulation only)",
              low=0.01, high=100.0),
    ParamSpec("service_timeout_s", 30.0, "wait for a service (camera trigger, vision reset)", low=0.1, high=3600.0),
    ParamSpec("detect_timeout_s", 30.0, "wait for Stage I's scan regions after each camera frame; none means the "
              "frame was lost, and the view is captured again", low=0.1, high=3600.0),
    ParamSpec("capture_retries", 2, "captures of one view after the first when its frame never reaches Stage I",
              low=0, high=10),
    ParamSpec("plan_timeout_s", 120.0, "wait for the press plan after the regions", low=0.1, high=3600.0),
    ParamSpec("execute_margin_s", 60.0, "wait beyond the plan's cycle time for the last tactile finding",
              low=0.0, high=3600.0),
    ParamSpec("explainer", "defect_explainer.pt", "the vision node's explainer (vision_node.explainer): the "
              "report shows its atlas's exemplar patches beside each explained defect; '' shows none; a bare name "
              "is looked up in models/"),
)

NODE_PARAMETERS: dict[str, tuple[ParamSpec, ...]] = {
    "image_probe_node": IMAGE_PROBE,
    "planner_node": PLANNER,
    "sim_node": SIM,
    "tactile_node": TACTILE,
    "coordinator_node": COORDINATOR,
    "vision_node": VISION,
    "recorder_node": RECORDER,
}
