"""start_inspection over real DDS against a stand-in coordinator that loses answers the way Fast DDS can
(ros2/rmw_fastrtps#842): a lost answer of a run that started is recovered from inspection/state; a lost
request is sent again; a refusal and a run that was someone else's are not taken for ours."""
from __future__ import annotations

import json
import threading
import time

import pytest
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from std_msgs.msg import String
from std_srvs.srv import Trigger

from inspection.coordinator import StartRefused
from inspection.nodes.common import LATCHED
from inspection.nodes.coordinator_client import start_inspection

ANSWER_WAIT_S = 1.0


class StandInCoordinator:
    """inspection/start and the latched inspection/state; ``answer`` decides, per request, what happens."""

    def __init__(self, client_node: Node, answer) -> None:
        self.node = Node("stand_in_coordinator", context=client_node.context)
        self.requests = 0
        self.answer = answer
        self.state = self.node.create_publisher(String, "inspection/state", LATCHED)
        self.node.create_service(Trigger, "inspection/start", self.start, callback_group=ReentrantCallbackGroup())
        self.executor = MultiThreadedExecutor(num_threads=3, context=client_node.context)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)

    def publish(self, phase: str, run_dir: str) -> None:
        self.state.publish(String(data=json.dumps({"phase": phase, "progress": 0.0, "message": "", "run_dir": run_dir})))

    def started(self, response, run_dir: str):
        """A run starts: the state names its folder, and so does the answer."""
        self.publish("capture", run_dir)
        response.success, response.message = True, run_dir
        return response

    def start(self, _request, response):
        self.requests += 1
        return self.answer(self, self.requests, response)

    def __enter__(self) -> "StandInCoordinator":
        self.thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.executor.shutdown(timeout_sec=5)
        self.node.destroy_node()


def _late(seconds: float, response):
    """An answer that arrives after the caller stopped waiting for it: to the caller, lost."""
    time.sleep(seconds)
    return response


def _refused(response, reason: str):
    response.success, response.message = False, reason
    return response


def test_an_answered_start_returns_the_run_folder(ros_node) -> None:
    with StandInCoordinator(ros_node, lambda c, _n, response: c.started(response, "/runs/run_1")) as coordinator:
        coordinator.publish("idle", "")
        assert start_inspection(ros_node, timeout_s=30, answer_wait_s=ANSWER_WAIT_S) == "/runs/run_1"
        assert coordinator.requests == 1


def test_a_lost_answer_of_a_run_that_started_is_read_from_the_state(ros_node) -> None:
    def answer(coordinator, _n, response):
        coordinator.state.publish(String(data="{not a state"))  # ignored, not a crash
        return _late(4 * ANSWER_WAIT_S, coordinator.started(response, "/runs/run_2"))

    with StandInCoordinator(ros_node, answer) as coordinator:
        coordinator.publish("idle", "/runs/run_1")  # the last run's folder: not ours
        started = time.monotonic()
        assert start_inspection(ros_node, timeout_s=30, answer_wait_s=ANSWER_WAIT_S) == "/runs/run_2"
        assert time.monotonic() - started < 3 * ANSWER_WAIT_S  # from the state, not the late answer
        assert coordinator.requests == 1  # never started twice


def test_a_lost_request_is_sent_again(ros_node) -> None:
    def answer(coordinator, n, response):
        if n == 1:  # nothing starts and nothing comes back
            return _late(4 * ANSWER_WAIT_S, _refused(response, "lost"))
        return coordinator.started(response, "/runs/run_3")

    with StandInCoordinator(ros_node, answer) as coordinator:
        coordinator.publish("idle", "")
        assert start_inspection(ros_node, timeout_s=30, answer_wait_s=ANSWER_WAIT_S) == "/runs/run_3"
        assert coordinator.requests == 2


def test_someone_elses_run_is_not_taken_for_ours_and_the_refusal_is_raised(ros_node) -> None:
    def answer(_coordinator, n, response):
        refusal = _refused(response, "an inspection is running (phase execute)")
        return _late(4 * ANSWER_WAIT_S, refusal) if n == 1 else refusal

    with StandInCoordinator(ros_node, answer) as coordinator:
        coordinator.publish("execute", "/runs/theirs")
        with pytest.raises(StartRefused, match="an inspection is running"):
            start_inspection(ros_node, timeout_s=30, answer_wait_s=ANSWER_WAIT_S)
        assert coordinator.requests == 2


def test_no_coordinator_is_a_timeout_that_says_so(ros_node) -> None:
    with pytest.raises(TimeoutError, match="inspection/start: the coordinator did not come up within 2 s"):
        start_inspection(ros_node, timeout_s=2, answer_wait_s=ANSWER_WAIT_S)
