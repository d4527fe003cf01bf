"""Benchmark: the recorder node against the image probe publisher, and the MCAP writer alone.

``dds``: the image probe publishes ``--frames`` reliable frames, the recorder (its own process)
records them and is stopped with ``--signal``; prints frames recorded, file size, and whether the
file reads as a finished MCAP or (after SIGKILL) only with a streaming reader.
``writer``: frames/s and bytes per frame of McapRecording.write for camera-like 1080p frames.
``both`` (the default, as `make bench` runs it): ``dds``, then ``writer``.
"""
from __future__ import annotations

import argparse
import io
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from mcap.exceptions import McapError
from mcap.reader import NonSeekingReader, make_reader

from inspection import runtime
from inspection.recording import McapRecording, MessageDefinitions

TOPIC = "/camera/image_raw"


def count_images(path: Path) -> tuple[int, str]:
    """Frames on TOPIC, and how the file could be read ('finished' or 'streaming only')."""
    data = path.read_bytes()
    try:
        return sum(1 for _ in make_reader(io.BytesIO(data)).iter_messages(topics=[TOPIC])), "finished"
    except McapError:
        count = 0
        try:
            for _schema, channel, _message in NonSeekingReader(io.BytesIO(data)).iter_messages(log_time_order=False):
                count += channel.topic == TOPIC
        except McapError:
            pass
        return count, "streaming only"


def dds(args: argparse.Namespace) -> None:
    env = dict(os.environ)
    env.update(runtime.configure_environment())
    env.update(ROS_DOMAIN_ID=runtime.private_domain_id(), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    with tempfile.TemporaryDirectory() as tmp:
        output = Path(tmp) / "run.mcap"
        recorder = subprocess.Popen(
            [sys.executable, "-m", "inspection.nodes.recorder_node", "--ros-args", "-p", f"output:={output}",
             "-p", f"compression:={args.compression}", "-p", "discovery_period_s:=0.2"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(2.0)
        started = time.monotonic()
        subprocess.run([sys.executable, "-m", "inspection.nodes.image_probe_node", "--ros-args", "-p", "mode:=publish",
                        "-p", f"width:={args.width}", "-p", f"height:={args.height}", "-p", f"count:={args.frames}",
                        "-p", f"rate_hz:={float(args.rate)}", "-p", "reliable:=true"],
                       env=env, check=True, capture_output=True, timeout=60 + args.frames / args.rate)
        elapsed = time.monotonic() - started
        recorder.send_signal(getattr(signal, args.signal))
        log = recorder.communicate(timeout=30)[0]
        recorded, readable = count_images(output)
        size = output.stat().st_size
    summary = [line for line in log.splitlines() if "recorded" in line]
    print(f"{args.width}x{args.height} {args.frames} frames at {args.rate} Hz (publishing took {elapsed:.1f} s), "
          f"{args.compression}, stopped by {args.signal}: {recorded} frames in the file ({readable}), "
          f"{size / 1e6:.1f} MB")
    print(summary[-1] if summary else log[-2000:])


def writer(args: argparse.Namespace) -> None:
    from rclpy.serialization import serialize_message
    from sensor_msgs.msg import Image

    rng = np.random.default_rng(0)
    rows, cols = np.mgrid[0:args.height, 0:args.width]
    # A smooth scene plus sensor noise compresses about as badly as a real camera frame.
    frame = np.stack([cols / 8, rows / 5, (rows + cols) / 12], axis=2) + rng.normal(0, 4, (args.height, args.width, 3))
    data = serialize_message(Image(height=args.height, width=args.width, encoding="rgb8", step=args.width * 3,
                                   data=np.clip(frame, 0, 255).astype(np.uint8).tobytes()))
    definition = MessageDefinitions().full_text("sensor_msgs/msg/Image")
    for compression in ("none", "zstd"):
        with tempfile.TemporaryDirectory() as tmp:
            recording = McapRecording(Path(tmp) / "w.mcap", compression=compression).open()
            recording.add_topic(TOPIC, "sensor_msgs/msg/Image", definition)
            started = time.perf_counter()
            for index in range(args.frames):
                recording.write(TOPIC, data, index)
            recording.close()
            seconds = time.perf_counter() - started
            size = recording.path.stat().st_size
        print(f"writer {args.width}x{args.height} {compression:4s}: {args.frames / seconds:6.1f} frames/s, "
              f"{len(data) * args.frames / seconds / 1e6:6.1f} MB/s, {size / args.frames / 1e6:.2f} MB per frame")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", nargs="?", choices=("dds", "writer", "both"), default="both")
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--rate", type=float, default=15.0)
    parser.add_argument("--compression", choices=("zstd", "none"), default="zstd")
    parser.add_argument("--signal", choices=("SIGINT", "SIGTERM", "SIGKILL"), default="SIGINT")
    args = parser.parse_args()
    if args.mode in ("dds", "both"):
        dds(args)
    if args.mode in ("writer", "both"):
        writer(args)


if __name__ == "__main__":
    main()
