"""lam_ros: imitation learning for ROS 2, from joystick demonstrations to a safe ONNX policy."""

__version__ = "0.1.0"
