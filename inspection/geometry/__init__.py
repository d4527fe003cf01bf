"""The part's geometry, one module for every stage: mesh files in and out (``mesh_io``) and the triangle
surface that localisation casts camera rays on, the planner places presses on and the simulator renders
and presses (``surface``). ROS-free, and it imports no stage: vision, planning, tactile, fusion and the
simulator all build on it.
"""
