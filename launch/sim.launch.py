"""PyBullet simulation of the robot, publishing and accepting what a ros2_control robot does.

    ros2 launch lam_ros sim.launch.py robot:=panda_sim task:=stack lockstep:=false
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare


def generate_launch_description():
    config = PathJoinSubstitution([FindPackageShare("lam_ros"), "config"])
    robot = LaunchConfiguration("robot")
    return LaunchDescription([
        DeclareLaunchArgument("robot", default_value="panda_sim",
                              description="robot profile name in config/robots/"),
        DeclareLaunchArgument("task", default_value="pick_place",
                              description="simulated task: pick_place, pick_place_random, "
                                          "stack or insertion"),
        DeclareLaunchArgument("lockstep", default_value="false",
                              description="advance the sim only when a command arrives"),
        DeclareLaunchArgument("expert", default_value="false",
                              description="also start the scripted expert"),
        Node(
            package="lam_ros", executable="sim_node", name="sim_node", output="screen",
            parameters=[PathJoinSubstitution([config, "sim.yaml"]),
                        {"profile": robot, "task": LaunchConfiguration("task"),
                         "lockstep": LaunchConfiguration("lockstep")}],
        ),
        Node(
            package="lam_ros", executable="expert_node", name="expert_node", output="screen",
            parameters=[{"profile": robot, "task": LaunchConfiguration("task"),
                         "use_sim_time": True}],
            condition=IfCondition(LaunchConfiguration("expert")),
        ),
    ])
