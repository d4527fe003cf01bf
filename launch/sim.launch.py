"""The simulated inspection cell.

    ros2 launch inspection sim.launch.py                      # built-in simulator node (no Gazebo needed)
    ros2 launch inspection sim.launch.py simulator:=gazebo    # Gazebo Harmonic with ros_gz

Both publish camera/image_raw, camera/camera_info and joint_states under the same names as the
real cell's drivers. The Gazebo variant renders the camera and shows the UR5; executing trajectories
in Gazebo additionally needs gz_ros2_control and a joint trajectory controller (see README), while
the built-in simulator executes them itself and also produces tactile frames.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, SetEnvironmentVariable
from launch.conditions import LaunchConfigurationEquals
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from inspection.cell import load_cell
from inspection.robot_description import example_robot_data_root, resolve_urdf


def generate_launch_description() -> LaunchDescription:
    share = get_package_share_directory("inspection")
    params_file = os.path.join(share, "config", "pipeline.yaml")
    world = os.path.join(share, "sim", "worlds", "inspection_cell.sdf")
    urdf_text = resolve_urdf(load_cell().robot.urdf).read_text()
    gazebo = LaunchConfigurationEquals("simulator", "gazebo")
    builtin = LaunchConfigurationEquals("simulator", "builtin")
    resource_path = os.pathsep.join([os.path.join(share, "sim", "models"),
                                     str(example_robot_data_root().parent.parent)])
    return LaunchDescription([
        DeclareLaunchArgument("simulator", default_value="builtin", choices=["builtin", "gazebo"],
                              description="built-in ROS-free simulator node, or Gazebo Harmonic"),
        SetEnvironmentVariable("FASTDDS_DEFAULT_PROFILES_FILE", os.path.join(share, "config", "fastdds.xml")),
        SetEnvironmentVariable("GZ_SIM_RESOURCE_PATH", resource_path),
        Node(package="inspection", executable="sim_node", name="sim_node", parameters=[params_file],
             output="screen", condition=builtin),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(os.path.join(
                get_package_share_directory("ros_gz_sim"), "launch", "gz_sim.launch.py")),
            launch_arguments={"gz_args": f"-r {world}"}.items(), condition=gazebo),
        Node(package="robot_state_publisher", executable="robot_state_publisher",
             parameters=[{"robot_description": urdf_text, "use_sim_time": True}], condition=gazebo),
        Node(package="ros_gz_sim", executable="create", arguments=["-topic", "robot_description", "-name", "ur5"],
             condition=gazebo),
        Node(package="ros_gz_bridge", executable="parameter_bridge", name="gz_bridge",
             parameters=[{"config_file": os.path.join(share, "config", "gz_bridge.yaml")}], condition=gazebo),
    ])
