"""Coordinator node: runs one inspection through explicit phases and always ends with a report.

    idle -> capture -> detect -> plan -> execute -> fuse -> report -> idle

Service    inspection/start (std_srvs/Trigger), inspection/cancel (std_srvs/Trigger)
Publishes  inspection/state (std_msgs/String JSON {"phase", "progress", "message", "run_dir"}, latched)
           joint_trajectory (trajectory_msgs/JointTrajectory: the plan, to the arm's trajectory controller)
Uses       vision/reset and the camera trigger service (sim/capture here), inspection/scan_regions/json,
           inspection/plan/json + inspection/trajectory, inspection/findings/json, sim/ground_truth (if any),
           inspection/estop/state (std_msgs/Bool, latched: the e-stop ends the run; no start while it is active)
           camera/view_plan (geometry_msgs/PoseArray, latched): capture_views 0 takes one frame per pose of it
Evidence   camera/image_raw + camera/camera_info + camera/pose (the frame's camera pose, same stamp; absent on
           a fixed camera), tactile/image_raw + tactile/heightmap: camera crops per hypothesis (from the view that
           shows it best), tactile frames and heightmap plots per finding, in run_dir/evidence/ as they arrive
           (inspection.fusion.evidence); latency from frame stamps to results in run_dir/latency.json
Every wait has a timeout; a timeout, a cancel, an e-stop or a refused plan ends in a partial report that
says what is missing. A camera view whose frame never reaches Stage I is captured again (capture_retries).
Everything received is journalled in the run folder as it arrives (journal.jsonl).
"""
from __future__ import annotations

import json
import threading
import time
from enum import Enum
from pathlib import Path
from typing import Callable

import numpy as np
from geometry_msgs.msg import PoseArray, PoseStamped
from rclpy._rclpy_pybind11 import InvalidHandle, RCLError
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.subscription import MessageInfo
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Bool, String
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from inspection.atomic import write_json_atomic
from inspection.cell import load_cell
from inspection.errors import InputError
from inspection.fusion.evidence import CameraModel, EvidenceStore, attach, stamp_ns
from inspection.fusion.report import part_outline, write_report
from inspection.fusion.summary import RunEvidence, build_report, truth_from_scene
from inspection.journal import Journal
from inspection.latency import CAMERA_TO_HYPOTHESES, PRESS_TO_FINDING, LatencyLog
from inspection.records import DefectHypothesis, ScanRegion, TactileFinding, Verdict
from inspection.nodes.common import LATCHED, RELIABLE, declare_parameters, image_qos, run_node
from inspection.nodes.ros_convert import (
    ImageConversionError, image_to_numpy, image_to_rgb8, intrinsics_from_camera_info, pose_stamped_to_matrix,
    poses_to_matrices, records_from_json,
)
from inspection.planning.plan_summary import PlanSummary, read_plan_summary, regions_without_findings
from inspection.retry import with_retries
from inspection.stamped import StampedBuffer

NODE_NAME = "coordinator_node"
FINDINGS_QOS = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
EVIDENCE_SETTLE_S = 2.0  # a finding's frame and heightmap come on other topics, possibly just after it
POSE_WAIT_S = 2.0  # a camera frame's pose comes on another topic, published just before it


class Phase(str, Enum):
    IDLE = "idle"
    CAPTURE = "capture"
    DETECT = "detect"
    PLAN = "plan"
    EXECUTE = "execute"
    FUSE = "fuse"
    REPORT = "report"


def _stamp(message: Image) -> int:
    return message.header.stamp.sec * 1_000_000_000 + message.header.stamp.nanosec


class Cancelled(Exception):
    """inspection/cancel was called."""


class EmergencyStop(RuntimeError):
    """inspection/estop/state went true: the arm was halted, the run ends here."""


class CoordinatorNode(Node):
    def __init__(self) -> None:
        super().__init__(NODE_NAME)
        self.params = declare_parameters(self, NODE_NAME)
        self.group = ReentrantCallbackGroup()
        self.phase = Phase.IDLE
        self.condition = threading.Condition()
        self.cancel_requested = False
        self.estopped = False
        self.latest: dict[str, tuple[float, object]] = {}
        self.findings: list[tuple[TactileFinding, Verdict]] = []
        self.truth: dict | None = None
        self.journal: Journal | None = None
        self.cell = load_cell(self.params["cell_file"] or None)
        self.camera_info: CameraInfo | None = None
        self.camera_poses: StampedBuffer[np.ndarray] = StampedBuffer(32)
        self.evidence: EvidenceStore | None = None
        self.latency = LatencyLog()
        self.state_publisher = self.create_publisher(String, "inspection/state", LATCHED)
        self.trajectory_publisher = self.create_publisher(JointTrajectory, self.params["trajectory_topic"], 10)
        self.create_subscription(String, "inspection/scan_regions/json", self._keep("regions"), LATCHED,
                                 callback_group=self.group)
        self.keep_hypotheses = self._keep("hypotheses")
        self.create_subscription(String, "inspection/hypotheses/json", self.hypotheses_callback, 10,
                                 callback_group=self.group)
        self.create_subscription(String, "inspection/plan/json", self._keep("plan"), LATCHED, callback_group=self.group)
        self.create_subscription(JointTrajectory, "inspection/trajectory", self._keep("trajectory"), LATCHED,
                                 callback_group=self.group)
        self.create_subscription(String, "inspection/findings/json", self.finding_callback, FINDINGS_QOS,
                                 callback_group=self.group)
        self.create_subscription(String, "sim/ground_truth", self.truth_callback, LATCHED, callback_group=self.group)
        self.create_subscription(Bool, "inspection/estop/state", self.estop_callback, LATCHED, callback_group=self.group)
        self.create_subscription(CameraInfo, "camera/camera_info", self.camera_info_callback, image_qos(),
                                 callback_group=self.group)
        self.create_subscription(Image, "camera/image_raw", self.camera_callback, image_qos(), callback_group=self.group)
        self.create_subscription(PoseStamped, "camera/pose", self.camera_pose_callback, RELIABLE,
                                 callback_group=self.group)
        self.create_subscription(PoseArray, "camera/view_plan", self._keep("view_plan"), LATCHED,
                                 callback_group=self.group)
        self.create_subscription(Image, "tactile/image_raw", self.tactile_frame_callback,
                                 image_qos(reliable=True, depth=20), callback_group=self.group)
        self.create_subscription(Image, "tactile/heightmap", self.heightmap_callback, RELIABLE, callback_group=self.group)
        self.create_service(Trigger, "inspection/start", self.start_service, callback_group=self.group)
        self.create_service(Trigger, "inspection/cancel", self.cancel_service, callback_group=self.group)
        self.worker: threading.Thread | None = None
        self.vision_reset = self.create_client(Trigger, "vision/reset", callback_group=self.group)
        self.camera_trigger = self.create_client(Trigger, self.params["capture_service"], callback_group=self.group)
        self.publish_state(0.0, "ready")

    # --- inputs ------------------------------------------------------------------------------------
    def _keep(self, key: str) -> Callable:
        def callback(message) -> None:
            with self.condition:
                self.latest[key] = (time.monotonic(), message)
                self.condition.notify_all()
            if self.journal is not None and isinstance(message, String):
                self.journal.append(key, data=message.data)

        return callback

    def truth_callback(self, message: String) -> None:
        try:
            self.truth = json.loads(message.data)
        except json.JSONDecodeError as exc:
            self.get_logger().error(f"sim/ground_truth: ignored ({exc})")

    def estop_callback(self, message: Bool) -> None:
        with self.condition:
            self.estopped = bool(message.data)
            self.condition.notify_all()
        if self.journal is not None:
            self.journal.append("estop", active=self.estopped)

    def finding_callback(self, message: String, info: MessageInfo) -> None:
        try:
            record = json.loads(message.data)
            pair = (TactileFinding.from_json(record["finding"]), Verdict.from_json(record["verdict"]))
        except (json.JSONDecodeError, KeyError, InputError) as exc:
            self.get_logger().error(f"inspection/findings/json: ignored a bad finding: {exc}")
            return
        if self.phase != Phase.EXECUTE:
            return
        with self.condition:
            self.findings.append(pair)
            self.condition.notify_all()
        if self.journal is not None:
            self.journal.append("finding", data=message.data)
        try:  # evidence and latency only: a finding without them still counts
            stamp = stamp_ns(record["stamp"])
            self.latency.add(PRESS_TO_FINDING, stamp, info["source_timestamp"], info["received_timestamp"])
            if self.evidence is not None:
                self.evidence.add_finding(stamp, pair[0], float(record["pixel_size_m"]))
        except (KeyError, TypeError, ValueError, InputError) as exc:
            self.get_logger().warning(f"inspection/findings/json: finding {pair[0].id} has no usable stamp or "
                                      f"pixel_size_m, so no tactile evidence in the report ({exc})")

    def hypotheses_callback(self, message: String, info: MessageInfo) -> None:
        self.keep_hypotheses(message)
        try:
            stamp = stamp_ns(json.loads(message.data)["stamp"])
            hypotheses = records_from_json(message, DefectHypothesis)[1]
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, InputError) as exc:
            self.get_logger().error(f"inspection/hypotheses/json: no camera crops for a bad message: {exc}")
            return
        self.latency.add(CAMERA_TO_HYPOTHESES, stamp, info["source_timestamp"], info["received_timestamp"])
        if self.evidence is not None:
            for problem in self.evidence.add_hypotheses(stamp, hypotheses):
                self.get_logger().warning(f"camera crop of hypothesis {problem}")

    def camera_info_callback(self, message: CameraInfo) -> None:
        self.camera_info = message

    def camera_pose_callback(self, message: PoseStamped) -> None:
        try:
            self.camera_poses.put(*pose_stamped_to_matrix(message, "camera/pose", self.cell.world_frame))
        except ValueError as exc:
            self.get_logger().error(f"ignored a camera pose: {exc}")

    def camera_callback(self, message: Image) -> None:
        store, info = self.evidence, self.camera_info
        if store is None:
            return
        try:
            k = distortion = None
            if info is not None and (info.width, info.height) == (message.width, message.height):
                k, distortion = intrinsics_from_camera_info(info)
            pose = None
            if self.camera_poses.ever:  # a moving camera: this frame's pose, never another's
                pose = self.camera_poses.get(_stamp(message), POSE_WAIT_S)
                if pose is None:
                    raise InputError(f"camera/pose: none with the frame's stamp within {POSE_WAIT_S:.0f} s")
            camera = CameraModel.from_cell(self.cell, message.width, message.height, k, distortion, pose)
            store.add_camera_frame(_stamp(message), image_to_rgb8(message), camera)
        except (ImageConversionError, InputError, ValueError) as exc:
            self.get_logger().warning(f"camera/image_raw: no camera crops from this frame: {exc}")

    def tactile_frame_callback(self, message: Image) -> None:
        if self.evidence is None:
            return
        try:
            self.evidence.add_tactile_frame(_stamp(message), image_to_rgb8(message))
        except (ImageConversionError, InputError) as exc:
            self.get_logger().warning(f"tactile/image_raw: frame not kept as evidence: {exc}")

    def heightmap_callback(self, message: Image) -> None:
        if self.evidence is None:
            return
        try:
            self.evidence.add_heightmap(_stamp(message), image_to_numpy(message))
        except (ImageConversionError, InputError) as exc:
            self.get_logger().warning(f"tactile/heightmap: heightmap not kept as evidence: {exc}")

    # --- services ----------------------------------------------------------------------------------
    def start_service(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        if self.phase != Phase.IDLE:
            response.success, response.message = False, f"an inspection is running (phase {self.phase.value})"
            return response
        if self.estopped:
            response.success, response.message = False, "emergency stop active: reset it (inspection/estop_reset) first"
            return response
        run_dir = Path(self.params["run_root"]) / time.strftime("run_%Y%m%dT%H%M%SZ", time.gmtime())
        run_dir.mkdir(parents=True, exist_ok=True)
        self.cancel_requested = False
        self.phase = Phase.CAPTURE
        self.worker = threading.Thread(target=self.run_inspection, args=(run_dir,), daemon=True)
        self.worker.start()
        response.success, response.message = True, str(run_dir)
        return response

    def cancel_service(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        with self.condition:
            self.cancel_requested = True
            self.condition.notify_all()
        response.success, response.message = self.phase != Phase.IDLE, f"cancel requested in phase {self.phase.value}"
        return response

    def outline(self) -> list[list[float]] | None:
        """The part's outline for the report overview, when its mesh is known and readable."""
        if not self.params["part_mesh"]:
            return None
        try:
            import trimesh

            return part_outline(trimesh.load(self.params["part_mesh"], force="mesh").vertices)
        except (OSError, ValueError) as exc:
            self.get_logger().warning(f"parameter part_mesh: no outline for the report ({exc})")
            return None

    # --- the inspection ----------------------------------------------------------------------------
    def publish_state(self, progress: float, message: str, run_dir: Path | None = None) -> None:
        """Tell the world; during shutdown the topic is gone but the run must still end in a report."""
        try:
            self.state_publisher.publish(String(data=json.dumps({
                "phase": self.phase.value, "progress": round(progress, 3), "message": message,
                "run_dir": str(run_dir) if run_dir else ""})))
            self.get_logger().info(f"[{self.phase.value}] {message}")
        except (InvalidHandle, RCLError):
            print(f"[{self.phase.value}] {message}", flush=True)

    def enter(self, phase: Phase, progress: float, message: str, run_dir: Path) -> None:
        self.phase = phase
        if self.journal is not None:
            self.journal.append("phase", phase=phase.value, message=message)
        self.publish_state(progress, message, run_dir)

    def wait_for(self, what: str, condition: Callable[[], bool], timeout_s: float) -> None:
        """Block until ``condition()`` (checked on every input) or raise TimeoutError naming ``what``."""
        deadline = time.monotonic() + timeout_s
        with self.condition:
            while not condition():
                if self.cancel_requested:
                    raise Cancelled(what)
                if self.estopped:
                    raise EmergencyStop(f"emergency stop pressed (inspection/estop) while waiting for {what}; "
                                        "the arm was halted")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{what}: nothing after {timeout_s:.0f} s")
                self.condition.wait(min(remaining, 0.5))

    def newer(self, key: str, since: float) -> bool:
        return key in self.latest and self.latest[key][0] > since

    def call(self, client, what: str, timeout_s: float) -> None:
        self.wait_for(f"{what}: service {client.srv_name} not available", client.service_is_ready, timeout_s)
        future = client.call_async(Trigger.Request())
        self.wait_for(what, future.done, timeout_s)
        if not future.result().success:
            raise RuntimeError(f"{what}: {future.result().message}")

    def capture_view(self, view: int) -> None:
        """Trigger the camera, then wait for Stage I's regions of that frame: none means the frame was lost."""
        since = time.monotonic()
        self.call(self.camera_trigger, f"camera view {view}", self.params["service_timeout_s"])
        self.wait_for(f"Stage I scan regions of camera view {view}", lambda: self.newer("regions", since),
                      self.params["detect_timeout_s"])

    def views_to_capture(self, evidence: RunEvidence) -> int:
        """capture_views, or with 0 the number of poses in camera/view_plan; 1 (named in the report's missing
        list) when no usable plan comes within view_plan_timeout_s."""
        if self.params["capture_views"] > 0:
            return self.params["capture_views"]
        timeout = self.params["view_plan_timeout_s"]
        try:
            self.wait_for("camera/view_plan", lambda: "view_plan" in self.latest, timeout)
            views = len(poses_to_matrices(self.latest["view_plan"][1], "camera/view_plan", self.cell.world_frame))
            if views == 0:
                raise ValueError("camera/view_plan: no poses")
            return views
        except (TimeoutError, ValueError) as exc:
            evidence.missing.append(f"camera view plan: {exc}; took 1 camera view (set capture_views for a camera "
                                    "without a plan)")
            self.get_logger().warning(evidence.missing[-1])
            return 1

    def retrying(self, what: str, attempt: int, error: BaseException) -> None:
        self.get_logger().warning(f"{what}: {error}; trying again (attempt {attempt + 1})")
        if self.journal is not None:
            self.journal.append("retry", what=what, attempt=attempt + 1, reason=str(error))

    def run_inspection(self, run_dir: Path) -> None:
        evidence = RunEvidence()
        self.findings = []
        self.journal = Journal(run_dir / "journal.jsonl")
        self.evidence, self.latency = EvidenceStore(run_dir), LatencyLog()
        started = time.monotonic()
        plan: PlanSummary | None = None
        try:
            self.enter(Phase.CAPTURE, 0.05, "capturing camera views", run_dir)
            self.call(self.vision_reset, "vision reset", self.params["service_timeout_s"])
            views = self.views_to_capture(evidence)
            self.enter(Phase.CAPTURE, 0.05, f"capturing {views} camera view(s)", run_dir)
            for view in range(views):
                with_retries(lambda _n, view=view: self.capture_view(view), 1 + self.params["capture_retries"],
                             (TimeoutError,), lambda n, exc, view=view: self.retrying(f"camera view {view}", n, exc))
            self.enter(Phase.DETECT, 0.15, "Stage I: detecting and localising", run_dir)
            _, hypotheses_msg = self.latest.get("hypotheses", (0.0, None))
            if hypotheses_msg is not None:
                evidence.hypotheses = records_from_json(hypotheses_msg, DefectHypothesis)[1]
            regions = records_from_json(self.latest["regions"][1], ScanRegion)[1]
            regions_at = self.latest["regions"][0]
            self.enter(Phase.PLAN, 0.25, f"planning presses over {len(regions)} regions", run_dir)
            if regions:
                self.wait_for("press plan", lambda: self.newer("plan", regions_at), self.params["plan_timeout_s"])
                plan = read_plan_summary(self.latest["plan"][1].data)
                evidence.planned_presses = plan.presses
                evidence.cycle_time_s = plan.cycle_time_s
                evidence.full_coverage_presses = plan.full_coverage_presses
                evidence.missing += [f"region {region}: unreachable ({reason})" for region, reason in plan.unreachable]
                if plan.refused:
                    raise RuntimeError(f"press plan refused by the safety check: {plan.refused}")
                self.wait_for("press trajectory", lambda: self.newer("trajectory", regions_at),
                              self.params["plan_timeout_s"])
                self.enter(Phase.EXECUTE, 0.35, f"Stage II: {evidence.planned_presses} presses, "
                           f"{evidence.cycle_time_s:.0f} s of arm motion", run_dir)
                self.trajectory_publisher.publish(self.latest["trajectory"][1])
                budget = evidence.cycle_time_s / self.params["time_scale"] + self.params["execute_margin_s"]
                self.wait_for("tactile findings", lambda: len(self.findings) >= evidence.planned_presses, budget)
        except (TimeoutError, RuntimeError, Cancelled, InputError) as exc:
            reason = "cancelled" if isinstance(exc, Cancelled) else str(exc)
            evidence.missing.append(f"stopped in phase {self.phase.value}: {reason}")
            self.get_logger().warning(f"inspection incomplete: {reason}")
        if plan is not None and not plan.refused:  # name the regions whose presses gave no finding
            evidence.missing += regions_without_findings(plan.press_regions, [f.region_id for f, _ in self.findings])
        evidence.findings = [f for f, _ in self.findings]
        evidence.verdicts = {f.id: v for f, v in self.findings}
        self.enter(Phase.FUSE, 0.9, "fusing both stages", run_dir)
        truth = truth_from_scene(self.truth) if self.truth is not None else None
        report, _ = build_report(run_dir.name, self.params["part_id"], evidence, truth)
        self.enter(Phase.REPORT, 0.95, "writing the report", run_dir)
        late = self.evidence.settle(EVIDENCE_SETTLE_S)
        if late:
            self.get_logger().warning(f"no tactile frame or heightmap for finding(s) {', '.join(late)}")
        self.evidence = None
        write_json_atomic(run_dir / "latency.json", self.latency.summary())
        write_report(run_dir, attach(run_dir, report), self.outline())
        self.journal.append("report", path=str(run_dir / "report.json"), seconds=time.monotonic() - started)
        self.journal.close()
        self.journal = None
        self.phase = Phase.IDLE
        self.publish_state(1.0, f"done: {len(report.defects)} defects, report {run_dir / 'report.json'}", run_dir)


    def destroy_node(self) -> None:
        """On shutdown (Ctrl-C, SIGTERM) a running inspection is cancelled and still writes its report."""
        if self.worker is not None and self.worker.is_alive():
            with self.condition:
                self.cancel_requested = True
                self.condition.notify_all()
            self.worker.join(timeout=30.0)
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    return run_node(CoordinatorNode, args, threads=4)


if __name__ == "__main__":
    raise SystemExit(main())
