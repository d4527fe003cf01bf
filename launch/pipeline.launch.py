"""The inspection pipeline on the robot cell: vision, planner, tactile and coordinator nodes.

    ros2 launch inspection pipeline.launch.py [camera_topic:=/camera/image_raw] [joint_trajectory_topic:=...]

Parameters come from config/pipeline.yaml (or params_file:=...); the Fast DDS profile is set for
camera-sized images. The cell's drivers provide camera/image_raw, camera/camera_info, joint_states,
the tactile frames and their press records; `inspection run` starts the same nodes without launch.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from inspection.launcher import PIPELINE_NODES


def generate_launch_description() -> LaunchDescription:
    share = get_package_share_directory("inspection")
    params_file = LaunchConfiguration("params_file")
    remappings = [
        ("camera/image_raw", LaunchConfiguration("camera_topic")),
        ("camera/camera_info", LaunchConfiguration("camera_info_topic")),
        ("joint_trajectory", LaunchConfiguration("joint_trajectory_topic")),
        ("tactile/image_raw", LaunchConfiguration("tactile_topic")),
    ]
    return LaunchDescription([
        DeclareLaunchArgument("params_file", default_value=os.path.join(share, "config", "pipeline.yaml"),
                              description="node parameters (ROS 2 parameter file)"),
        DeclareLaunchArgument("camera_topic", default_value="camera/image_raw", description="camera image topic"),
        DeclareLaunchArgument("camera_info_topic", default_value="camera/camera_info", description="camera info topic"),
        DeclareLaunchArgument("joint_trajectory_topic", default_value="joint_trajectory",
                              description="the arm's trajectory controller input (e.g. "
                                          "/scaled_joint_trajectory_controller/joint_trajectory)"),
        DeclareLaunchArgument("tactile_topic", default_value="tactile/image_raw", description="tactile sensor frames"),
        SetEnvironmentVariable("FASTDDS_DEFAULT_PROFILES_FILE", os.path.join(share, "config", "fastdds.xml")),
        *(Node(package="inspection", executable=name, name=name, parameters=[params_file], remappings=remappings,
               output="screen") for name in PIPELINE_NODES),
    ])
