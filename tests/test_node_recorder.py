"""Recorder: ros2msg schema text, CDR header stamps, QoS choice, crash-tolerant MCAP, and a real DDS run."""
from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import pytest
from builtin_interfaces.msg import Duration, Time
from mcap.exceptions import EndOfFile
from mcap.reader import NonSeekingReader
from mcap_ros2.decoder import DecoderFactory
from mcap_ros2.reader import read_ros2_messages
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from rclpy.serialization import serialize_message
from sensor_msgs.msg import Image
from std_msgs.msg import String
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from inspection.recording import (
    SEPARATOR, DefinitionNotFound, McapRecording, MessageDefinitions, QosOffer, choose_qos, expand_output,
    header_stamp_ns,
    msg_dependencies, starts_with_header, topic_selected,
)
from tests.conftest import spin_until, start_node, stop_node

LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)


def _write_msg(root, type_name: str, text: str) -> None:
    package, name = type_name.split("/")
    path = root / "share" / package / "msg" / f"{name}.msg"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_schema_text_has_each_nested_type_once_in_rosbag2_order(tmp_path) -> None:
    # Top -> {b_pkg/Mid, Leaf (same package)}; Mid -> {a_pkg/Leaf (seen), b_pkg/Deep}; sorted, depth first.
    _write_msg(tmp_path, "a_pkg/Top", "# top\nb_pkg/Mid mid\nLeaf[] leaves\nuint8 X=1\nstring<=5 name\n")
    _write_msg(tmp_path, "a_pkg/Leaf", "float64 value\n")
    _write_msg(tmp_path, "b_pkg/Mid", "a_pkg/Leaf leaf  # again\nDeep[3] deep\n")
    _write_msg(tmp_path, "b_pkg/Deep", "int32 depth\n")
    definitions = MessageDefinitions([tmp_path])
    text = definitions.full_text("a_pkg/msg/Top")
    assert text == ("# top\nb_pkg/Mid mid\nLeaf[] leaves\nuint8 X=1\nstring<=5 name\n"
                    f"\n{SEPARATOR}\nMSG: a_pkg/Leaf\nfloat64 value\n"
                    f"\n{SEPARATOR}\nMSG: b_pkg/Mid\na_pkg/Leaf leaf  # again\nDeep[3] deep\n"
                    f"\n{SEPARATOR}\nMSG: b_pkg/Deep\nint32 depth\n")
    assert msg_dependencies("x_pkg/msg/T t\nHeader header\nwstring w\n", "std_msgs") == [
        "std_msgs/Header", "x_pkg/msg/T"]


def test_installed_definitions_match_rosbag2_layout() -> None:
    text = MessageDefinitions().full_text("visualization_msgs/msg/MarkerArray")
    names = [line[5:] for line in text.splitlines() if line.startswith("MSG: ")]
    assert len(names) == len(set(names))
    # CompressedImage pulls in Header (and Time) before Marker's own std_msgs/ColorRGBA, as in rosbag2.
    assert names[names.index("sensor_msgs/CompressedImage") + 1:][:3] == [
        "std_msgs/Header", "builtin_interfaces/Time", "std_msgs/ColorRGBA"]


def test_missing_nested_definition_names_the_type(tmp_path) -> None:
    _write_msg(tmp_path, "a_pkg/Top", "c_pkg/Gone gone\n")
    with pytest.raises(DefinitionNotFound, match=r"c_pkg/msg/Gone.msg for 'c_pkg/Gone'.*needed by 'a_pkg/Top'"):
        MessageDefinitions([tmp_path]).full_text("a_pkg/Top")
    with pytest.raises(DefinitionNotFound, match="no definition"):
        MessageDefinitions([tmp_path]).full_text("nothing_msgs/msg/Here")


def test_header_stamp_is_read_from_the_cdr_bytes() -> None:
    definitions = MessageDefinitions()
    assert starts_with_header(definitions.text("sensor_msgs/msg/Image"), "sensor_msgs")
    assert not starts_with_header(definitions.text("std_msgs/msg/String"), "std_msgs")
    assert not starts_with_header("uint8 A=1\nHeader h\n", "my_msgs") and starts_with_header("Header h", "std_msgs")
    image = Image(height=1, width=1, encoding="mono8", step=1, data=[7])
    image.header.stamp = Time(sec=1_700_000_000, nanosec=123)
    assert header_stamp_ns(serialize_message(image)) == 1_700_000_000_000_000_123
    assert header_stamp_ns(serialize_message(Image())) is None  # unset stamp: fall back to the send time
    assert header_stamp_ns(b"\x00\x01") is None


def test_qos_follows_the_publishers_and_topic_patterns() -> None:
    camera = QosOffer(reliable=False, transient_local=False, depth=5)
    latched = QosOffer(reliable=True, transient_local=True, depth=1)
    plain = QosOffer(reliable=True, transient_local=False, depth=10)
    assert choose_qos([camera, plain]) == choose_qos([camera])
    assert not choose_qos([camera]).reliable
    assert choose_qos([latched]).transient_local and choose_qos([latched]).reliable
    assert not choose_qos([latched, plain]).transient_local
    assert not choose_qos([plain]).matches(camera) and choose_qos([camera]).matches(plain)
    assert topic_selected("/camera/image", ["*"], ["/parameter_events"])
    assert not topic_selected("/parameter_events", ["*"], ["/parameter_events"])
    assert topic_selected("/a", [], [""]) and not topic_selected("/b", ["/a"], [])
    assert expand_output("/x/run_{time}.mcap", now=0.0) == Path("/x/run_19700101T000000Z.mcap")
    assert not topic_selected("/x/_action/status", ["*"], []) and topic_selected("/x/_hidden", ["/x/_hidden"], [])


def _string_recording(path, count: int, **kwargs) -> McapRecording:
    recording = McapRecording(path, **kwargs).open()
    recording.add_topic("/notes", "std_msgs/msg/String", MessageDefinitions().full_text("std_msgs/msg/String"))
    for index in range(count):
        recording.write("/notes", serialize_message(String(data=f"note {index}")), 1_000 + index)
    return recording


def test_flushed_messages_survive_a_crash_and_max_bytes_stops_writing(tmp_path) -> None:
    recording = _string_recording(tmp_path / "crash.mcap", 3)
    recording.flush()
    # The process "dies" here: no close(), so no summary and no footer.
    reader = NonSeekingReader(io.BytesIO((tmp_path / "crash.mcap").read_bytes()), decoder_factories=[DecoderFactory()])
    salvaged = []
    with pytest.raises(EndOfFile):  # a streaming reader yields every flushed message, then hits the cut
        for _, _, _, message in reader.iter_decoded_messages(log_time_order=False):
            salvaged.append(message.data)
    assert salvaged == ["note 0", "note 1", "note 2"]
    recording.close()
    with pytest.raises(Exception, match="exists"):
        McapRecording(tmp_path / "crash.mcap").open()
    limited = _string_recording(tmp_path / "limited.mcap", 10, max_bytes=60)
    limited.close()
    assert limited.limit_reached and limited.stats["/notes"].messages < 10
    assert len(list(read_ros2_messages(str(tmp_path / "limited.mcap")))) == limited.stats["/notes"].messages


def test_records_images_latched_and_trajectories_over_dds(ros_env, ros_node, tmp_path) -> None:
    output = tmp_path / "run.mcap"
    latched = ros_node.create_publisher(String, "inspection/plan/json", LATCHED)
    latched.publish(String(data='{"presses": []}'))  # before the recorder exists: only latching delivers it
    process = start_node("inspection.nodes.recorder_node", ros_env, "-p", f"output:={output}",
                         "-p", "discovery_period_s:=0.2", "-p", "exclude:=['/parameter_events', '/rosout']")
    images = ros_node.create_publisher(Image, "camera/image_raw", qos_profile_sensor_data)
    trajectories = ros_node.create_publisher(JointTrajectory, "inspection/trajectory", 10)
    publishers = (latched, images, trajectories)
    try:
        assert spin_until(ros_node, lambda: all(p.get_subscription_count() for p in publishers), 15), \
            stop_node(process)
        spin_until(ros_node, lambda: False, 0.5)  # the recorder's side of discovery settles (best effort)
        rng = np.random.default_rng(7)
        frames = [rng.integers(0, 256, (480, 640, 3), dtype=np.uint8) for _ in range(4)]
        for index, frame in enumerate(frames):
            msg = Image(height=480, width=640, encoding="rgb8", step=640 * 3, data=frame.tobytes())
            msg.header.stamp, msg.header.frame_id = Time(sec=1_000 + index, nanosec=5), "camera_optical"
            images.publish(msg)
            spin_until(ros_node, lambda: False, 0.1)
        for index in range(3):
            trajectories.publish(JointTrajectory(joint_names=["a", "b"], points=[JointTrajectoryPoint(
                positions=[0.1 * index, 0.2], time_from_start=Duration(sec=index + 1))]))
        spin_until(ros_node, lambda: False, 1.0)
    finally:
        output_text = stop_node(process)
    assert process.returncode == 0, output_text
    assert "recorded 8 messages" in output_text, output_text
    messages = list(read_ros2_messages(str(output)))
    by_topic: dict[str, list] = {}
    for message in messages:
        by_topic.setdefault(message.channel.topic, []).append(message)
    assert set(by_topic) == {"/camera/image_raw", "/inspection/plan/json", "/inspection/trajectory"}
    schemas = {topic: items[0].schema.name for topic, items in by_topic.items()}
    assert schemas == {"/camera/image_raw": "sensor_msgs/msg/Image", "/inspection/plan/json": "std_msgs/msg/String",
                       "/inspection/trajectory": "trajectory_msgs/msg/JointTrajectory"}
    recorded = by_topic["/camera/image_raw"]
    assert len(recorded) == len(frames)
    for index, (item, frame) in enumerate(zip(recorded, frames)):
        image = item.ros_msg
        assert (image.width, image.height, image.encoding) == (640, 480, "rgb8")
        assert image.header.frame_id == "camera_optical"
        assert bytes(image.data) == frame.tobytes()
        assert item.publish_time_ns == (1_000 + index) * 1_000_000_000 + 5  # the header stamp
        assert abs(item.log_time_ns - time.time_ns()) < 120e9  # receive time, wall clock
    assert [m.ros_msg.data for m in by_topic["/inspection/plan/json"]] == ['{"presses": []}']
    points = [m.ros_msg.points[0] for m in by_topic["/inspection/trajectory"]]
    assert [p.positions[0] for p in points] == pytest.approx([0.0, 0.1, 0.2])
    assert [p.time_from_start.sec for p in points] == [1, 2, 3]


def test_a_later_best_effort_publisher_is_recorded_too(ros_env, ros_node, tmp_path) -> None:
    output = tmp_path / "mixed.mcap"
    reliable = ros_node.create_publisher(String, "status", 10)
    process = start_node("inspection.nodes.recorder_node", ros_env, "-p", f"output:={output}",
                         "-p", "discovery_period_s:=0.2", "-p", "topics:=['/status']")
    try:
        assert spin_until(ros_node, lambda: reliable.get_subscription_count() > 0, 15), stop_node(process)
        reliable.publish(String(data="from the reliable publisher"))
        # A best-effort publisher cannot serve the recorder's reliable request: it must subscribe again.
        best_effort = ros_node.create_publisher(String, "status", qos_profile_sensor_data)
        assert spin_until(ros_node, lambda: best_effort.get_subscription_count() > 0, 15), stop_node(process)
        spin_until(ros_node, lambda: False, 0.5)
        best_effort.publish(String(data="from the best-effort publisher"))
        spin_until(ros_node, lambda: False, 0.5)
    finally:
        output_text = stop_node(process)
    assert "/status: a new publisher offers weaker QoS; subscribing again" in output_text
    assert [m.ros_msg.data for m in read_ros2_messages(str(output))] == [
        "from the reliable publisher", "from the best-effort publisher"]
