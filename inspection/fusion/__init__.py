"""ROS-free fusion of both stages, scoring against ground truth, and the inspection report."""
