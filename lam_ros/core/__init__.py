"""Pure logic: profiles, configs, time sync, teleop mapping, safety. Never imports rclpy."""
