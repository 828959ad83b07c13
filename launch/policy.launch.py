"""Run a trained policy on the robot (or in the simulator) behind the safety filter.

    ros2 launch lam_ros policy.launch.py model:=models/demo/policy.onnx robot:=panda_sim
policy_node is a managed (lifecycle) node that walks itself to active (its autostart parameter;
`ros2 lifecycle set /policy_node deactivate` and friends work as on any managed node). Active, it
starts disabled: enable it with
    ros2 service call /policy_node/enable std_srvs/srv/SetBool "{data: true}"
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare


def generate_launch_description():
    share = FindPackageShare("lam_ros")
    config = PathJoinSubstitution([share, "config"])
    robot = LaunchConfiguration("robot")
    sim_time = LaunchConfiguration("sim")
    return LaunchDescription([
        # No default: a robot is never implied (robot:=panda_sim for the simulated Panda).
        DeclareLaunchArgument("robot", description="robot profile name or YAML path"),
        DeclareLaunchArgument("model", default_value=PathJoinSubstitution(
            [share, "models", "demo", "policy.onnx"])),
        DeclareLaunchArgument("sim", default_value="false",
                              description="also start the PyBullet simulation, on its clock"),
        DeclareLaunchArgument("task", default_value="pick_place",
                              description="the simulation's task (with sim:=true)"),
        Node(
            package="lam_ros", executable="policy_node", name="policy_node", output="screen",
            parameters=[PathJoinSubstitution([config, "policy.yaml"]),
                        {"profile": robot, "model": LaunchConfiguration("model"),
                         "use_sim_time": sim_time}],
        ),
        Node(
            package="lam_ros", executable="sim_node", name="sim_node", output="screen",
            parameters=[PathJoinSubstitution([config, "sim.yaml"]),
                        {"profile": robot, "task": LaunchConfiguration("task")}],
            condition=IfCondition(sim_time),
        ),
    ])
