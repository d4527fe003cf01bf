"""The campaign's parts as Ray actors (``--executor ray``): one actor per CPU of a Ray cluster, each a
worker process that loads the models once and runs one part at a time; the driver hands out the parts and
stores each part's records itself, so the worker machines need no shared folder with it.

Without ``--ray-address`` a private Ray instance sized to this machine starts and stops with the campaign;
with one (``ray start --head`` on one machine, ``ray start --address HEAD:6379`` on the others) the actors
spread over the cluster, each machine having the project and its models installed. A worker that dies
(killed, out of memory, its machine gone) costs only the part it was running: the other workers go on
with the rest, and the campaign ends with ``PartsLost`` naming the parts to rerun. Ray is an optional
dependency (``pip install .[ray]``), imported only here.
"""
from __future__ import annotations

import logging
import os
import socket
import sys
from collections import deque
from pathlib import Path
from typing import Any, Callable, Sequence

from inspection.campaign.executors import PartJob, PartsLost, PartWorker, WorkerSetup, local_cpus
from inspection.campaign.part_store import save_record
from inspection.errors import InputError

RAY_MISSING = "--executor ray needs Ray: pip install .[ray]"
OBJECT_STORE_BYTES = 128 * 2**20  # a local instance: the store only carries the setup and a few kB per part
CONNECT_TIMEOUT_S = 5.0  # Ray itself retries an address where nothing listens for minutes


def import_ray() -> Any:
    """The ``ray`` module, or the one line that says how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise InputError(RAY_MISSING) from exc
    return ray


def _check_reachable(address: str) -> None:
    """Fail in seconds, with the address named, when no Ray head listens at HOST:PORT."""
    host, _, port = address.rpartition(":")
    if "://" in address or not host or not port.isdigit():
        return  # "auto", "ray://HOST:10001" (Ray Client): Ray resolves these itself
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise InputError(f"--ray-address {address}: no Ray head answers there ({exc.strerror or exc}); "
                         "start one with `ray start --head`") from exc


class RayExecutor:
    """``--executor ray [--ray-address ADDRESS]``: the parts as tasks of a pool of Ray actors."""

    def __init__(self, setup: WorkerSetup, workers: int | None, address: str | None) -> None:
        self.ray = import_ray()
        self.setup, self.workers, self.address = setup, workers, address

    def _connect(self) -> None:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # nothing reaches for the network
        quiet = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.WARNING}
        try:
            if self.address:
                _check_reachable(self.address)
                self.ray.init(address=self.address, **quiet)
            else:  # "local": a new instance even when RAY_ADDRESS names a cluster
                self.ray.init(address="local", num_cpus=local_cpus(), object_store_memory=OBJECT_STORE_BYTES, **quiet)
        except (ConnectionError, RuntimeError, self.ray.exceptions.RayError) as exc:
            where = f"--ray-address {self.address}" if self.address else "a Ray instance on this machine"
            hint = ""
            if self.address and os.environ.get("RAY_AUTH_MODE") != "token":  # Ray's default for `ray start --head`
                hint = ("; a cluster with token authentication needs RAY_AUTH_MODE=token here and its token "
                        "(~/.ray/auth_token from the head, or RAY_AUTH_TOKEN)")
            raise InputError(f"{where}: Ray did not start: {str(exc).splitlines()[0]}{hint}") from exc

    def _pool_size(self, jobs: int) -> int:
        """Actors hold a CPU each for the whole campaign: no more than the cluster has, or some would wait forever."""
        cpus = int(self.ray.cluster_resources().get("CPU", 0))
        where = f"the Ray cluster at {self.address}" if self.address else "the Ray instance on this machine"
        if cpus < 1:
            raise InputError(f"{where} has no CPUs for workers")
        if self.workers and self.workers > cpus:
            print(f"--workers {self.workers}: {where} has {cpus} CPUs, so at most {cpus} workers", file=sys.stderr)
        return min(self.workers or cpus, cpus, jobs)

    def run(self, jobs: Sequence[PartJob], parts_dir: Path, part_done: Callable[[], None]) -> None:
        ray = self.ray
        try:
            self._connect()
            # No restarts or retries: a part that killed its worker (memory, a crash) would most likely do so
            # again; it is reported lost and a rerun decides.
            actor_class = ray.remote(num_cpus=1, max_restarts=0, max_task_retries=0)(PartWorker)
            queue, lost = deque(jobs), []
            running: dict[Any, tuple[Any, PartJob]] = {}

            def hand_out(actor: Any) -> None:
                job = queue.popleft()
                running[actor.records.remote(job)] = (actor, job)

            for _ in range(self._pool_size(len(jobs))):
                hand_out(actor_class.remote(self.setup))
            while running:
                (ref,), _ = ray.wait(list(running), num_returns=1)
                actor, job = running.pop(ref)
                try:
                    records = ray.get(ref)
                except ray.exceptions.RayActorError:
                    # The worker process died: its part is lost, and the other workers go on without it (a fresh
                    # one could wait forever for the CPU of a machine that is gone).
                    lost.append(job.spec.index)
                    continue
                except ray.exceptions.RayTaskError as exc:  # the part raised: as in a local worker, the campaign stops
                    raise exc.cause from exc
                for name, record in records:
                    save_record(parts_dir, job.spec.index, name, job.keys[name], record)
                part_done()
                if queue:
                    hand_out(actor)
            lost += [job.spec.index for job in queue]  # every worker died before these started
            if lost:
                raise PartsLost(lost, len(jobs))
        finally:
            ray.shutdown()  # a local instance stops with its actors; on a cluster only this driver's actors go
