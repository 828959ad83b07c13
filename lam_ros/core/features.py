"""One table of feature keys, shared by recorder, dataset, export and inference.

The ONNX policy file's input and output names come from here, so a model and the node that runs
it cannot disagree on spelling.
"""

from __future__ import annotations

STATE = "state"  # float32 [batch, n_joints], joint positions in profile order, robot units
# float32 or float64 [batch, chunk, n_joints], absolute joint targets, robot units
ACTIONS = "actions"
IMAGE_PREFIX = "image_"  # uint8 [batch, H, W, 3] RGB per camera, at the profile's size
# float32 [batch, history - 1, n_joints]: the joint positions 1 .. history - 1 control periods
# before ``state``, oldest first; an input only of a policy trained with history > 1
STATE_HISTORY = "state_history"


# Who sent the commands (std_msgs/String, one with every command): "policy" or "teleop". The
# recorder logs it; training tells the policy's own actions from a person's corrections by it.
COMMAND_SOURCE_TOPIC = "/command_source"
POLICY_SOURCE, TELEOP_SOURCE = "policy", "teleop"


def image_key(camera_name: str) -> str:
    return f"{IMAGE_PREFIX}{camera_name}"


# Keys written into each rosbag2 episode's metadata.yaml custom_data (all values are strings).
EPISODE_TASK = "lam_ros.task"
EPISODE_SUCCESS = "lam_ros.success"  # "true" | "false"
EPISODE_STATUS = "lam_ros.status"  # "complete" | "repaired"
EPISODE_PROFILE = "lam_ros.profile"  # profile name
EPISODE_PROFILE_HASH = "lam_ros.profile_hash"  # RobotProfile.fingerprint()
EPISODE_START = "lam_ros.start_time"  # seconds, ROS time of the recorder
EPISODE_STOP = "lam_ros.stop_time"
EPISODE_STOP_REASON = "lam_ros.stop_reason"
EPISODE_SEED = "lam_ros.seed"  # sim seed the episode was recorded from, when known
EPISODE_NOTE = "lam_ros.note"
EPISODE_HEALTH = "lam_ros.health"  # JSON: {topic: {count, mean_hz, max_gap_s, out_of_order}}
