"""Planner node: scan regions in, press plan and joint trajectory out.

Subscribes  inspection/scan_regions/json (std_msgs/String, the JSON side channel of the regions)
Publishes   inspection/trajectory (trajectory_msgs/JointTrajectory, latched)
            inspection/plan/json (std_msgs/String: presses, unreachable, cycle time, the press count
            of the full-coverage baseline, "trajectory_stamp", the header stamp of the trajectory
            published just before it, which pairs the two, and "regions_stamp", the stamp of the regions
            it was planned from, which pairs it with them; latched). A plan the safety check refuses is published as
            {"refused": reason, "presses": [], "unreachable": every region} with no trajectory.
            inspection/press_markers (visualization_msgs/MarkerArray: one arrow per press)
Service     inspection/plan (std_srvs/Trigger): plan again with the latest regions
The algorithm is inspection.planning (the same call as `inspection plan`); this node only converts.
"""
from __future__ import annotations

import json
from pathlib import Path

from geometry_msgs.msg import Point
from rclpy.node import Node
from std_msgs.msg import String
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory
from visualization_msgs.msg import Marker, MarkerArray

from inspection.cell import load_cell
from inspection.errors import InputError
from inspection.records import ScanRegion
from inspection.nodes.common import LATCHED, declare_parameters, run_node
from inspection.nodes.ros_convert import joint_trajectory, records_from_json
from inspection.planning.planner import Plan, PlannerSettings, build_planner
from inspection.planning.safety import UnsafePlanError
from inspection.geometry.mesh_io import load_mesh

NODE_NAME = "planner_node"


class PlannerNode(Node):
    def __init__(self) -> None:
        super().__init__(NODE_NAME)
        self.params = declare_parameters(self, NODE_NAME)
        self.cell = load_cell(self.params["cell_file"] or None)
        self.planner, backend = build_planner(self.cell, PlannerSettings.from_params(self.params))
        self.surface = None
        self.full_coverage_presses: int | None = None
        self.regions: list[ScanRegion] = []
        self.regions_stamp: dict | None = None  # the regions message's stamp, echoed in the plan made from it
        self.trajectory_publisher = self.create_publisher(JointTrajectory, "inspection/trajectory", LATCHED)
        self.plan_publisher = self.create_publisher(String, "inspection/plan/json", LATCHED)
        self.marker_publisher = self.create_publisher(MarkerArray, "inspection/press_markers", LATCHED)
        self.create_subscription(String, "inspection/scan_regions/json", self.regions_callback, LATCHED)
        self.create_service(Trigger, "inspection/plan", self.plan_service)
        self.get_logger().info(f"planner ready (motion backend: {backend})")

    def _load_surface(self):
        if self.surface is None:
            mesh = self.params["part_mesh"]
            if not mesh:
                raise InputError("parameter part_mesh: no part mesh given (path to STL/OBJ/PLY in the part frame)")
            self.surface = load_mesh(Path(mesh))
        return self.surface

    def regions_callback(self, message: String) -> None:
        try:
            _frame, self.regions = records_from_json(message, ScanRegion)
        except InputError as exc:
            self.get_logger().error(f"inspection/scan_regions/json: ignored a bad message: {exc}")
            return
        self.regions_stamp = json.loads(message.data).get("stamp")
        if self.params["plan_on_regions"]:
            self.plan_and_publish()

    def plan_service(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        plan = self.plan_and_publish()
        response.success = plan is not None
        response.message = (f"{len(plan.presses)} presses, {len(plan.unreachable)} unreachable, "
                            f"cycle {plan.cycle_time_s:.1f} s") if plan else "planning failed: see the log"
        return response

    def plan_and_publish(self) -> Plan | None:
        """Plan with the latest regions; a bad mesh or region is logged, the node keeps running."""
        try:
            surface = self._load_surface()
            plan = self.planner.plan(surface, self.regions)
            if self.full_coverage_presses is None:
                # The baseline Stage II is measured against: the whole surface rastered with the same footprint.
                self.full_coverage_presses = len(self.planner.tool_paths(surface, full_coverage=True).presses)
        except UnsafePlanError as exc:
            self.get_logger().error(f"planning failed: {exc}")
            self.publish_refusal(str(exc))
            return None
        except (InputError, ValueError, RuntimeError) as exc:
            self.get_logger().error(f"planning failed: {exc}")
            return None
        stamp = self.get_clock().now().to_msg()
        positions, times = plan.trajectory.as_arrays()
        self.trajectory_publisher.publish(joint_trajectory(plan.trajectory.joint_names, positions, times,
                                                           self.cell.robot.base_frame, stamp))
        self.plan_publisher.publish(String(data=json.dumps(
            {**plan.to_dict(), "full_coverage_presses": self.full_coverage_presses,
             "trajectory_stamp": {"sec": stamp.sec, "nanosec": stamp.nanosec}, "regions_stamp": self.regions_stamp})))
        self.marker_publisher.publish(self._markers(plan, stamp))
        for item in plan.unreachable:
            self.get_logger().warning(f"unreachable press in region {item.region}: {item.reason}")
        return plan

    def publish_refusal(self, reason: str) -> None:
        """Say at once that nothing will be pressed, and why, instead of leaving the coordinator to time out."""
        self.plan_publisher.publish(String(data=json.dumps({
            "refused": reason, "presses": [], "cycle_time_s": 0.0, "warnings": [],
            "unreachable": [{"region": r.id, "position": list(r.center), "reason": "plan refused as unsafe"}
                            for r in self.regions],
            "full_coverage_presses": self.full_coverage_presses, "regions_stamp": self.regions_stamp})))

    def _markers(self, plan: Plan, stamp) -> MarkerArray:
        markers = MarkerArray()
        for index, planned in enumerate(plan.presses):
            press = planned.press
            marker = Marker()
            marker.header.frame_id, marker.header.stamp = self.cell.part.frame, stamp
            marker.ns, marker.id, marker.type, marker.action = "presses", index, Marker.ARROW, Marker.ADD
            start = press.position + press.normal * press.approach_m
            marker.points = [Point(x=float(a), y=float(b), z=float(c)) for a, b, c in (start, press.position)]
            marker.scale.x, marker.scale.y, marker.scale.z = 0.002, 0.004, 0.006
            marker.color.g, marker.color.a = 0.8, 1.0
            markers.markers.append(marker)
        return markers


def main(args: list[str] | None = None) -> int:
    return run_node(PlannerNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
