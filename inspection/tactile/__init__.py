"""Stage II: GelSight-style tactile sensing — optics, reconstruction, calibration, classification,
measurement and acceptance. ROS-free; the nodes and the CLI call these modules."""
