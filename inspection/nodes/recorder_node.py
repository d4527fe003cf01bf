"""Recorder node: every topic of a run (or the selected ones) into one MCAP file that Foxglove replays.

Messages are taken serialised (raw subscriptions) and written as they arrived, with the full
ros2msg definition as schema, so recording never depends on the node understanding a message.
Each topic is subscribed with the QoS its publishers offer (best effort for sensor-data images,
transient local for latched topics); the graph is re-scanned for new topics every
``discovery_period_s``. The file is finished on SIGINT/SIGTERM; chunks are flushed every
``flush_period_s``, so a SIGKILL loses at most that much data and the index (see README "Recording").
"""
from __future__ import annotations

import importlib
import time
from functools import partial
from typing import Any

from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.subscription import MessageInfo, Subscription

from inspection.config import ConfigError
from inspection.errors import InputError
from inspection.nodes.common import declare_parameters, run_node
from inspection.recording import (
    MessageDefinitions, McapRecording, QosChoice, QosOffer, choose_qos, expand_output, header_stamp_ns,
    split_type, starts_with_header, topic_selected,
)

NODE_NAME = "recorder_node"


def message_class(type_name: str) -> Any:
    """The Python class of a ROS type name; InputError when its package is not importable here."""
    package, namespace, name = split_type(type_name)
    try:
        return getattr(importlib.import_module(f"{package}.{namespace}"), name)
    except (ImportError, AttributeError) as exc:
        raise InputError(f"message type '{type_name}': no Python module {package}.{namespace}.{name} ({exc})") from exc


def _qos_profile(choice: QosChoice) -> QoSProfile:
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST, depth=choice.depth,
        reliability=ReliabilityPolicy.RELIABLE if choice.reliable else ReliabilityPolicy.BEST_EFFORT,
        durability=DurabilityPolicy.TRANSIENT_LOCAL if choice.transient_local else DurabilityPolicy.VOLATILE)


class RecorderNode(Node):
    """Discovers topics, subscribes raw, writes each message to the MCAP as it arrives."""

    def __init__(self) -> None:
        super().__init__(NODE_NAME)
        self.params = declare_parameters(self, NODE_NAME)
        if not self.params["output"]:
            raise ConfigError(f"node '{NODE_NAME}': parameter output is required (path of the .mcap to write)")
        self.definitions = MessageDefinitions()
        self.recording = McapRecording(expand_output(self.params["output"]),
                                       chunk_size=self.params["chunk_size"],
                                       compression=self.params["compression"],
                                       max_bytes=self.params["max_bytes"])
        try:
            self.recording.open()
        except (InputError, OSError) as exc:
            raise ConfigError(str(exc)) from exc
        self.subscriptions_by_topic: dict[str, tuple[Subscription, QosChoice]] = {}
        self.headers: dict[str, bool] = {}
        self.skipped: dict[str, str] = {}
        self.bad_messages = 0
        self.dropped_at_limit = 0
        self.get_logger().info(f"recording to {self.recording.path}")
        self.discover()
        self.create_timer(self.params["discovery_period_s"], self.discover)
        self.create_timer(self.params["flush_period_s"], self.recording.flush)

    def _offers(self, topic: str) -> list[QosOffer]:
        offers = []
        for info in self.get_publishers_info_by_topic(topic):
            if info.node_name == self.get_name() and info.node_namespace == self.get_namespace():
                continue  # our own /rosout and /parameter_events publishers say nothing about the others
            qos = info.qos_profile
            offers.append(QosOffer(reliable=qos.reliability == ReliabilityPolicy.RELIABLE,
                                   transient_local=qos.durability == DurabilityPolicy.TRANSIENT_LOCAL,
                                   depth=qos.depth))
        return offers

    def discover(self) -> None:
        """Subscribe to new topics; re-subscribe one whose new publisher our request would not match."""
        for topic, types in self.get_topic_names_and_types():
            if topic in self.skipped or not topic_selected(topic, self.params["topics"], self.params["exclude"]):
                continue
            offers = self._offers(topic)
            if not offers:
                continue  # no publisher yet: its QoS is unknown, try again at the next scan
            current = self.subscriptions_by_topic.get(topic)
            if current is not None:
                if not all(current[1].matches(offer) for offer in offers):
                    self.destroy_subscription(current[0])
                    del self.subscriptions_by_topic[topic]
                    self.get_logger().warning(f"{topic}: a new publisher offers weaker QoS; subscribing again")
                    self._subscribe(topic, types[0], choose_qos(offers))
                continue
            if len(types) != 1:
                self._skip(topic, f"published with several types {types}; the recorder needs one")
                continue
            self._subscribe(topic, types[0], choose_qos(offers))

    def _skip(self, topic: str, reason: str) -> None:
        self.skipped[topic] = reason
        self.get_logger().error(f"{topic}: not recorded: {reason}")

    def _subscribe(self, topic: str, type_name: str, qos: QosChoice) -> None:
        try:
            if topic not in self.recording.stats:
                definition = self.definitions.full_text(type_name)
                self.headers[topic] = starts_with_header(self.definitions.text(type_name), split_type(type_name)[0])
                msg_type = message_class(type_name)
                self.recording.add_topic(topic, type_name, definition)
            else:
                msg_type = message_class(type_name)
        except InputError as exc:
            self._skip(topic, str(exc))
            return
        subscription = self.create_subscription(msg_type, topic, partial(self.on_message, topic),
                                                _qos_profile(qos), raw=True)
        self.subscriptions_by_topic[topic] = (subscription, qos)
        self.get_logger().info(f"{topic}: recording {type_name} ({'reliable' if qos.reliable else 'best effort'}"
                               f"{', transient local' if qos.transient_local else ''})")

    def on_message(self, topic: str, data: bytes, info: MessageInfo) -> None:
        """Write one message; a failure is logged and counted, never fatal."""
        log_time = info.get("received_timestamp") or time.time_ns()
        stamp = header_stamp_ns(data) if self.headers.get(topic) else None
        publish_time = stamp or info.get("source_timestamp") or log_time
        try:
            written = self.recording.write(topic, data, log_time, publish_time)
        except (ValueError, OSError) as exc:
            self.bad_messages += 1
            self.get_logger().error(f"{topic}: message not recorded: {exc}")
            return
        if not written:
            if not self.dropped_at_limit:
                self.get_logger().error(f"max_bytes={self.params['max_bytes']} reached: no further messages are "
                                        f"recorded to {self.recording.path}")
            self.dropped_at_limit += 1

    def summary(self) -> str:
        stats = sorted(self.recording.stats.items())
        topics = ", ".join(f"{topic} {s.messages} ({s.bytes / 1e6:.1f} MB)" for topic, s in stats)
        return (f"recorded {sum(s.messages for s in self.recording.stats.values())} messages "
                f"({topics}) to {self.recording.path}; {len(self.skipped)} topics skipped {sorted(self.skipped)}, "
                f"{self.bad_messages} messages failed, {self.dropped_at_limit} dropped at max_bytes")

    def destroy_node(self) -> None:
        """Finish the MCAP (summary and index) before the node goes, whatever ended the spin."""
        self.recording.close()
        print(f"[{NODE_NAME}] {self.summary()}", flush=True)
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    return run_node(RecorderNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
