"""Named QoS profiles: chosen once here, passed in by every node."""

from rclpy.duration import Duration
from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)

# Joint states and images: best effort, shallow queue; a late sample is worth less than a new one.
SENSOR = qos_profile_sensor_data

# Commands to a ros2_control controller: reliable, depth 1 (only the newest command matters).
COMMAND = QoSProfile(
    history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE
)


def command(period_s: float) -> QoSProfile:
    """COMMAND for a publisher, with a lifespan of one control period: DDS drops (and never
    re-sends) a command that could not be delivered in the slot it was meant for."""
    sec, nanosec = divmod(int(round(period_s * 1e9)), 1_000_000_000)
    return QoSProfile(history=COMMAND.history, depth=COMMAND.depth,
                      reliability=COMMAND.reliability,
                      lifespan=Duration(seconds=sec, nanoseconds=nanosec))

# Status and events (task success, recorder status): reliable, latched for late joiners.
STATUS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=1,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)

# Simulated /clock: reliable, shallow; fits rclpy's best-effort time source and reliable readers.
CLOCK = QoSProfile(
    history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE
)
