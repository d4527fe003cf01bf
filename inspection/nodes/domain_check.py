"""Is a ROS domain free? Checked before the demo and `inspection run` start their nodes, because two
graphs on one domain answer each other's services: a second demo's inspection/start reached the first's
coordinator ("an inspection is running") and its simulator served the first's captures.

Every DDS participant on domain d binds UDP ports in [7400 + 250 d + 10, 7400 + 250 d + 250) (the RTPS
port mapping, the same for every vendor), so the participants on this machine show in /proc/net/udp at
once: with ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST (the demo's default) a free domain costs nothing to
check. Naming the nodes, or seeing other machines, takes discovery: a probe participant listens up to
GRAPH_PROBE_S (Fast DDS announces every 3 s; a participant is often seen in 0.1 s, in 3 s on a loaded
machine, and on one with ten runnable processes per core sometimes not within 5 s: it is then named by
its port).
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from inspection import runtime
from inspection.errors import InputError

RTPS_PORT_BASE, RTPS_DOMAIN_GAIN = 7400, 250
GRAPH_PROBE_S = 5.0
NAMES_SETTLE_S = 0.5
MAX_DOMAIN_ID = 232  # the largest ROS_DOMAIN_ID rmw accepts on Linux


def _bound_udp_ports() -> set[int] | None:
    """UDP ports bound on this machine (Linux /proc/net/udp and udp6); None where that is unreadable."""
    ports: set[int] = set()
    for table in (Path("/proc/net/udp"), Path("/proc/net/udp6")):
        try:
            lines = table.read_text().splitlines()[1:]
        except FileNotFoundError if table.name == "udp6" else ():  # IPv6 switched off
            continue
        except OSError:
            return None
        ports.update(int(line.split()[1].rsplit(":", 1)[1], 16) for line in lines if line.strip())
    return ports


def local_participant_ports(domain_id: int) -> list[int] | None:
    """Ports of ``domain_id``'s block bound by participants on this machine; None when unknown."""
    bound = _bound_udp_ports()
    if bound is None:
        return None
    base = RTPS_PORT_BASE + RTPS_DOMAIN_GAIN * domain_id
    return sorted(port for port in bound if base + 10 <= port < base + RTPS_DOMAIN_GAIN)


def node_names_on_domain(domain_id: int, wait_s: float = GRAPH_PROBE_S, wanted: frozenset[str] = frozenset()
                         ) -> list[str]:
    """The nodes a short-lived probe participant on ``domain_id`` discovers within ``wait_s``; hidden nodes
    (``_name``, such as the ros2 CLI daemon) included. It returns NAMES_SETTLE_S after it sees the first
    node, or with ``wanted`` (full names) as soon as it sees one of those."""
    import rclpy
    from rclpy.node import Node
    from rclpy.signals import SignalHandlerOptions

    context = rclpy.Context()
    rclpy.init(context=context, domain_id=domain_id, signal_handler_options=SignalHandlerOptions.NO)
    probe = Node(f"_inspection_domain_probe_{os.getpid()}", context=context)
    try:
        deadline = time.monotonic() + wait_s
        while True:
            found = sorted(f"{namespace.rstrip('/')}/{name}"
                           for name, namespace in probe.get_node_names_and_namespaces() if name != probe.get_name())
            if wanted and wanted & set(found):
                return found
            if found and not wanted and deadline > time.monotonic() + NAMES_SETTLE_S:
                deadline = time.monotonic() + NAMES_SETTLE_S  # the first seen: the others of its graph come with it
            if time.monotonic() > deadline:
                return found
            time.sleep(0.05)
    finally:
        probe.destroy_node()
        rclpy.shutdown(context=context)


def domain_users(domain_id: int, wanted: frozenset[str] = frozenset()) -> list[str]:
    """Who is on ``domain_id`` already: node names, or the port of a participant that discovery did not
    name in time (a loaded machine can take longer than GRAPH_PROBE_S); ``wanted``: see node_names_on_domain.

    With ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST only this machine counts, and a domain whose port block
    is unused is free at once (no DDS traffic); otherwise a probe participant listens for GRAPH_PROBE_S.
    """
    ports = local_participant_ports(domain_id)
    localhost_only = os.environ.get("ROS_AUTOMATIC_DISCOVERY_RANGE", "").upper() == "LOCALHOST"
    if ports == [] and localhost_only:
        return []
    names = node_names_on_domain(domain_id, wanted=wanted)
    if names:
        return names
    return [f"a DDS participant holding UDP port {port}" for port in (ports or [])[:1]]


def exported_domain_id() -> int | None:
    """The user's ROS_DOMAIN_ID, checked; None when it is not set."""
    text = os.environ.get("ROS_DOMAIN_ID", "").strip()
    if not text:
        return None
    if not text.isdigit() or int(text) > MAX_DOMAIN_ID:
        raise InputError(f"ROS_DOMAIN_ID={text!r}: expected a whole number from 0 to {MAX_DOMAIN_ID}")
    return int(text)


def claim_free_domain(attempts: int = 5) -> int:
    """A domain for a run that must keep to itself (the demo): the exported ROS_DOMAIN_ID when nobody is
    on it, else a random private domain found free; sets ROS_DOMAIN_ID for the nodes started after.

    An exported domain that is in use is refused, not replaced: the user chose it on purpose.
    """
    exported = exported_domain_id()
    if exported is not None:
        users = domain_users(exported)
        if users:
            shown = ", ".join(users[:3]) + (f" and {len(users) - 3} more" if len(users) > 3 else "")
            daemon_only = all(name.startswith("/_ros2cli_daemon") for name in users)
            hint = " (only the ros2 CLI daemon: `ros2 daemon stop` frees it)" if daemon_only else ""
            raise InputError(f"ROS_DOMAIN_ID={exported} is in use by {shown}{hint}: a demo there would answer and "
                             "be answered by them; export a free domain, or unset ROS_DOMAIN_ID and the demo picks "
                             "a free private one")
        return exported
    for _ in range(attempts):
        domain = int(runtime.private_domain_id())
        if not domain_users(domain):
            os.environ["ROS_DOMAIN_ID"] = str(domain)
            return domain
    raise InputError(f"no free ROS domain among {attempts} picked at random; export a free ROS_DOMAIN_ID")
