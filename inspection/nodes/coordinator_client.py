"""The caller's side of the coordinator's inspection/start: start an inspection and learn its run folder,
even when the service's answer is lost on the way back.

Why not one call_async: Fast DDS drops a service answer when the server has not yet discovered the
caller's reply reader (it waits 100 ms, then gives up: ros2/rmw_fastrtps#842). On a busy machine the
caller then waits on a run that did start. The coordinator's latched inspection/state names the run folder
of the run it is in, so a lost answer is recovered from there; a request that never arrived is sent again.
"""
from __future__ import annotations

import json
import time
from typing import Callable

from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from std_msgs.msg import String
from std_srvs.srv import Trigger

from inspection.coordinator import StartRefused
from inspection.nodes.common import LATCHED

START_SERVICE = "inspection/start"
STATE_TOPIC = "inspection/state"
ANSWER_WAIT_S = 5.0  # then neither an answer nor a new run in the state: the request is sent again


def start_inspection(node: Node, timeout_s: float, answer_wait_s: float = ANSWER_WAIT_S) -> str:
    """Start an inspection on the coordinator; return its run folder as the coordinator names it.

    Raises StartRefused with the coordinator's reason (a run in progress, the e-stop) and TimeoutError when
    the service never comes up or nothing shows a start within ``timeout_s``. A run counts as ours only
    if its folder is new: one the coordinator was already in before the request is someone else's.
    """
    states: list[dict] = []
    subscription = node.create_subscription(String, STATE_TOPIC, lambda m: _keep_state(states, m.data), LATCHED)
    client = node.create_client(Trigger, START_SERVICE)
    executor = SingleThreadedExecutor(context=node.context)
    executor.add_node(node)
    deadline = time.monotonic() + timeout_s
    try:
        while not client.wait_for_service(timeout_sec=min(1.0, max(0.0, deadline - time.monotonic()))):
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{START_SERVICE}: the coordinator did not come up within {timeout_s:.0f} s")
        _spin_until(executor, lambda: bool(states), min(deadline, time.monotonic() + answer_wait_s))
        known_runs = {""} | {str(state.get("run_dir", "")) for state in states}

        def new_run() -> str:
            runs = (str(state.get("run_dir", "")) for state in reversed(states))
            return next((run for run in runs if run not in known_runs), "")

        while True:
            future = client.call_async(Trigger.Request())
            _spin_until(executor, lambda: future.done() or bool(new_run()),
                        min(deadline, time.monotonic() + answer_wait_s))
            if future.done():
                answer = future.result()
                if not answer.success:
                    raise StartRefused(answer.message)
                return answer.message
            client.remove_pending_request(future)
            if new_run():
                return new_run()
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{START_SERVICE}: no answer and no run started within {timeout_s:.0f} s")
    finally:
        executor.remove_node(node)
        node.destroy_client(client)
        node.destroy_subscription(subscription)


def _keep_state(states: list[dict], text: str) -> None:
    """A state message as a dict; one that is not a JSON object names no run and is left out."""
    try:
        state = json.loads(text)
    except json.JSONDecodeError:
        return
    if isinstance(state, dict):
        states.append(state)


def _spin_until(executor: SingleThreadedExecutor, condition: Callable[[], bool], until_monotonic: float) -> None:
    while not condition() and time.monotonic() < until_monotonic:
        executor.spin_once(timeout_sec=0.1)
