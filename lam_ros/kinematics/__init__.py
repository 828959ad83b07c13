"""Forward and inverse kinematics of a profile's robot description (URDF or xacro), for
teleop on a real arm and the scripted expert; independent of the simulator package."""

from lam_ros.kinematics.solver import Kinematics
from lam_ros.kinematics.urdf import UrdfError, kinematic_urdf, urdf_file

__all__ = ["Kinematics", "UrdfError", "kinematic_urdf", "urdf_file"]
