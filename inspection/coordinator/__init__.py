"""The inspection coordinator without ROS: the phase machine (``machine``) and the ports it talks through
(``ports``). inspection/nodes/coordinator_node.py maps topics and services onto them; the tests drive
the same machine with in-process doubles of the transport and a clock that needs no sleeping.
"""
from inspection.coordinator.machine import (
    Cancelled, Coordinator, EmergencyStop, Phase, StartRefused, ViewPlan,
)
from inspection.coordinator.ports import (
    Clock, CoordinatorIO, CoordinatorSettings, Logger, PendingCall, SystemClock, TriggerOutcome, TriggerService,
)

__all__ = [
    "Cancelled", "Clock", "Coordinator", "CoordinatorIO", "CoordinatorSettings", "EmergencyStop", "Logger",
    "PendingCall", "Phase", "StartRefused", "SystemClock", "TriggerOutcome", "TriggerService", "ViewPlan",
]
