"""Record demonstrations: joystick teleop + the episode recorder (optionally the simulator).

    ros2 launch lam_ros record.launch.py robot:=panda_sim data:=~/lam_data task:=pick_place
Buttons on the gamepad start an episode, stop it as success or failure, or discard it.
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
    sim_time = LaunchConfiguration("sim")
    return LaunchDescription([
        # No default: a robot is never implied (robot:=panda_sim for the simulated Panda).
        DeclareLaunchArgument("robot", description="robot profile name or YAML path"),
        DeclareLaunchArgument("data", default_value="lam_data",
                              description="folder that receives <task>/episode_NNNNNN bags"),
        DeclareLaunchArgument("task", default_value="pick_place",
                              description="task name: the bag folder, and the simulation's "
                                          "task with sim:=true"),
        DeclareLaunchArgument("sim", default_value="false",
                              description="also start the PyBullet simulation, on its clock"),
        Node(package="joy", executable="joy_node", name="joy_node",
             parameters=[{"use_sim_time": sim_time}]),
        Node(
            package="lam_ros", executable="teleop_node", name="teleop_node", output="screen",
            parameters=[PathJoinSubstitution([config, "teleop.yaml"]),
                        {"profile": robot, "use_sim_time": sim_time}],
        ),
        Node(
            package="lam_ros", executable="recorder_node", name="recorder_node", output="screen",
            parameters=[PathJoinSubstitution([config, "recorder.yaml"]),
                        {"profile": robot, "data_root": LaunchConfiguration("data"),
                         "task": LaunchConfiguration("task"), "use_sim_time": sim_time}],
        ),
        Node(
            package="lam_ros", executable="sim_node", name="sim_node", output="screen",
            parameters=[PathJoinSubstitution([config, "sim.yaml"]),
                        {"profile": robot, "task": LaunchConfiguration("task")}],
            condition=IfCondition(sim_time),
        ),
    ])
