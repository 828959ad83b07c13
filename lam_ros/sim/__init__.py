"""PyBullet world, tasks and scripted experts. No ROS."""
