"""ROS-free simulated inspection cell: parts, defects, camera, robot and tactile sensor."""
