"""Two-stage visual-tactile defect inspection of large curved parts.

The core (everything outside ``inspection.nodes``) never imports rclpy, so every algorithm runs and
is tested without ROS; ``inspection.nodes`` wraps it in thin ROS 2 nodes.
"""

__version__ = "0.1.0"
