"""A node's counters, published every ``diagnostics_period_s`` on inspection/diagnostics (std_msgs/String
JSON {"node", "stamp", counters..., "rss_kb", "hwm_kb"}): what it received, processed and dropped, and
its memory, for an operator, the recorder and bench/soak.py. String JSON rather than
diagnostic_msgs, which the PyPI ROS wheels here do not provide.
"""
from __future__ import annotations

import json
import time
from typing import Callable

from rclpy.node import Node
from std_msgs.msg import String

from inspection.sysinfo import memory_kb

TOPIC = "inspection/diagnostics"


class Diagnostics:
    def __init__(self, node: Node, counters: Callable[[], dict[str, int]], period_s: float) -> None:
        self.node, self.counters = node, counters
        self.publisher = node.create_publisher(String, TOPIC, 10)
        node.create_timer(period_s, self.publish)

    def publish(self) -> None:
        payload = {"node": self.node.get_name(), "stamp": time.time(), **self.counters(), **memory_kb()}
        self.publisher.publish(String(data=json.dumps(payload)))
