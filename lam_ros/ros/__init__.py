"""ROS glue: QoS profiles, parameters <-> dataclasses, message <-> numpy conversions."""
