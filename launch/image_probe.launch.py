"""Check image transport on the cell: a numbered-pattern publisher and a receiver that counts losses.

    ros2 launch inspection image_probe.launch.py width:=1920 height:=1080 count:=300
The receiver logs frames received, lost, rate and latency and writes them to `report_file`.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


def generate_launch_description() -> LaunchDescription:
    share = get_package_share_directory("inspection")
    params_file = os.path.join(share, "config", "pipeline.yaml")
    arguments = {
        "topic": ("camera/image_raw", "image topic to probe"),
        "width": ("640", "pattern width in pixels"),
        "height": ("480", "pattern height in pixels"),
        "count": ("300", "frames to send and expect"),
        "rate_hz": ("30.0", "publish rate"),
        "report_file": ("/tmp/image_probe.json", "where the receiver writes its counts"),
    }
    overrides = {name: LaunchConfiguration(name) for name in arguments}
    return LaunchDescription([
        SetEnvironmentVariable("FASTDDS_DEFAULT_PROFILES_FILE", os.path.join(share, "config", "fastdds.xml")),
        *(DeclareLaunchArgument(name, default_value=default, description=text)
          for name, (default, text) in arguments.items()),
        Node(package="inspection", executable="image_probe_node", name="image_probe_receiver",
             parameters=[params_file, {**overrides, "mode": "receive"}], output="screen"),
        Node(package="inspection", executable="image_probe_node", name="image_probe_publisher",
             parameters=[params_file, {**overrides, "mode": "publish"}], output="screen"),
    ])
