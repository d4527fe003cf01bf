"""Tactile scan planner: scan regions on a part mesh -> presses -> ordered, IK-checked, timed trajectory.

Noether's shape: mesh modifiers (``mesh_modifiers``), then a tool-path planner (``coverage``), then
tool-path modifiers (``interfaces.StandoffModifier``, ``ordering``), composed in
``interfaces.ToolPathPlannerPipeline``; followed by kinematics (``kinematics``), clearance
(``collision``) and time parameterisation (``trajectory``, ``motion``). ``planner`` ties them
together; ``moveit_adapter`` hands the motions to MoveIt 2 when it is installed. ``surface`` and
``regions_io`` read the inputs; ``shapes`` builds analytic reference parts for tests and benchmarks.
"""
