"""Tactile scan planner: scan regions on a part mesh -> presses -> ordered, IK-checked, timed trajectory.

Noether's shape: mesh modifiers, then a tool-path planner, then tool-path modifiers (``interfaces``),
followed by kinematics (``kinematics``) and time parameterisation (``trajectory``); ``planner`` ties
them together and ``moveit_adapter`` hands the motions to MoveIt 2 when it is installed.
"""
