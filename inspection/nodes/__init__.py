"""Thin ROS 2 nodes: message -> core type -> core call -> message. No algorithm lives here."""
