"""Test-only relay: forwards sensor_msgs/Image from ``input`` to ``output`` through a FaultSchedule.

The node under test is remapped to read ``output`` (``-r tactile/image_raw:=faulty/tactile/image_raw``);
its publisher is untouched. The schedule starts from the ``first``/``then`` parameters and can be
replaced at run time by a JSON {"first": [...], "then": "..."} on ``fault_relay/schedule`` (latched),
which also restarts the message count. Every fault applied is printed, so a test can see what happened,
and so is every change in the publishers matched on ``input`` and the subscribers on ``output``: a test
waits for ``relay_connected`` before it starts, or a best-effort frame published
before discovery ends never reaches the relay and the schedule's count is off by one.

    python -m tests.fault_relay_node --ros-args -p input:=tactile/image_raw -p output:=faulty/tactile/image_raw \
        -p reliable:=true -p "first:=['wrong_size','drop']" -p then:=pass
"""
from __future__ import annotations

import json
import threading

from rclpy.event_handler import PublisherEventCallbacks, SubscriptionEventCallbacks
from rclpy.node import Node
from sensor_msgs.msg import Image
from std_msgs.msg import String

from inspection.nodes.common import LATCHED, image_qos, run_node
from tests.faults import FaultSchedule, ImageFields, damage_image


def relay_connected(output: str) -> bool:
    """Whether the relay whose printed ``output`` this is hears its publisher and is heard by its subscriber."""
    return "input matched 1" in output and "output matched 1" in output


class FaultRelayNode(Node):
    def __init__(self) -> None:
        super().__init__("fault_relay")
        for name, default in (("input", ""), ("output", ""), ("reliable", False), ("first", [""]), ("then", "pass")):
            self.declare_parameter(name, default)
        value = lambda name: self.get_parameter(name).value  # noqa: E731
        self.lock = threading.Lock()
        self.schedule = FaultSchedule(tuple(f for f in value("first") if f), value("then"))
        self.index = 0
        qos = image_qos(reliable=value("reliable"), depth=20)
        matched = lambda end: lambda status: print(f"fault relay: {end} matched {status.current_count}",  # noqa: E731
                                                   flush=True)
        self.publisher = self.create_publisher(Image, value("output"), qos,
                                               event_callbacks=PublisherEventCallbacks(matched=matched("output")))
        self.create_subscription(Image, value("input"), self.relay, qos,
                                 event_callbacks=SubscriptionEventCallbacks(matched=matched("input")))
        self.create_subscription(String, "fault_relay/schedule", self.set_schedule, LATCHED)
        print(f"fault relay {value('input')} -> {value('output')}: {self.schedule}", flush=True)

    def set_schedule(self, message: String) -> None:
        document = json.loads(message.data)
        with self.lock:
            self.schedule = FaultSchedule(tuple(document.get("first", ())), document.get("then", "pass"))
            self.index = 0
        print(f"fault relay: new schedule {self.schedule}", flush=True)

    def relay(self, message: Image) -> None:
        with self.lock:
            fault, index = self.schedule.fault(self.index), self.index
            self.index += 1
        print(f"fault relay: message {index}: {fault}", flush=True)
        if fault == "drop":
            return
        damaged = damage_image(ImageFields(message.height, message.width, message.encoding, message.step,
                                           bytes(message.data)), fault)
        message.height, message.width, message.encoding, message.step = (damaged.height, damaged.width,
                                                                         damaged.encoding, damaged.step)
        message.data = damaged.data
        self.publisher.publish(message)


def main(args: list[str] | None = None) -> int:
    return run_node(FaultRelayNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
