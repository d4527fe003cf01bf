"""Where a campaign's parts run: in this process, in local worker processes, or as Ray actors on a local
or remote Ray cluster (``ray_executor``); ``campaign.make_executor`` picks one for ``--executor``. The
campaign core hands every executor the same jobs (a part and the ablations it still lacks) and every
executor stores the results through ``part_store``, so results, resuming and the summary do not depend
on which one ran them. Each worker process loads the pipeline's
models once and reuses them for every part it gets.
"""
from __future__ import annotations

import multiprocessing
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol, Sequence

from inspection.campaign.part_store import save_record
from inspection.campaign.runner import PartSpec, pipeline_digests
from inspection.errors import InputError
from inspection.parent_watch import on_parent_death

if TYPE_CHECKING:
    from inspection.campaign.runner import PartRunner

EXECUTORS = ("local", "ray")


@dataclass(frozen=True)
class WorkerSetup:
    """What a worker needs to load the pipeline, wherever it runs.

    ``file_digests`` are the sha256 of the models, acceptance table and cell file, and of the core's
    source, as the driver hashed them into the campaign's keys (``pipeline_digests``): a worker on another
    machine checks that it loads the same files and runs the same code."""

    cell_file: Path | None
    params: dict[str, dict[str, Any]]
    low_confidence: float | None  # the low-confidence detector's threshold; None when that ablation is not run
    file_digests: dict[str, str]


@dataclass(frozen=True)
class PartJob:
    """One part and the ablations it still lacks, each with the key its record is stored under."""

    spec: PartSpec
    keys: dict[str, str]


class PartsLost(RuntimeError):
    """Parts not done because their worker died (running them, or before they started when no worker was
    left). Every other part was stored, so rerunning the same command runs only these."""

    def __init__(self, indices: Sequence[int], total: int) -> None:
        self.indices = sorted(indices)
        shown = ", ".join(map(str, self.indices[:10])) + (", ..." if len(self.indices) > 10 else "")
        super().__init__(f"{len(self.indices)} of {total} parts lost: their worker died (part {shown}); "
                         "the others are stored: rerun the same command to run the lost ones")


class PartWorker:
    """The pipeline of one worker process. The models load on the first part rather than at start, so that
    a bad model file reaches the driver as its own error instead of as a worker that died starting."""

    def __init__(self, setup: WorkerSetup) -> None:
        self.setup = setup
        self._runner: PartRunner | None = None

    @property
    def runner(self) -> PartRunner:
        if self._runner is None:
            from inspection import runtime
            from inspection.campaign.runner import PartRunner
            from inspection.cell import load_cell
            from inspection.tactile.runtime import tune_for_frames

            runtime.configure_environment()  # a Ray worker on another machine did not start through the CLI
            tune_for_frames()  # as the tactile node: several workers share the CPUs
            self._check_files()
            self._runner = PartRunner(load_cell(self.setup.cell_file), self.setup.params, self.setup.low_confidence)
        return self._runner

    def _check_files(self) -> None:
        local = pipeline_digests(self.setup.cell_file, self.setup.params)
        differ = sorted(role for role in self.setup.file_digests if local.get(role) != self.setup.file_digests[role])
        if differ:
            raise InputError(f"worker on {socket.gethostname()}: its {', '.join(differ)} differs from the one the "
                             "campaign was started with; install the same code, models and config on every machine")

    def store(self, job: PartJob, parts_dir: Path) -> int:
        """Run the part where ``parts_dir`` is reachable, storing each ablation as soon as it is done."""
        self.runner.run(job.spec, list(job.keys),
                        lambda name, record: save_record(parts_dir, job.spec.index, name, job.keys[name], record))
        return job.spec.index

    def records(self, job: PartJob) -> list[tuple[str, dict[str, Any]]]:
        """Run the part and return its (ablation, record) pairs, for a driver that stores them itself."""
        done: list[tuple[str, dict[str, Any]]] = []
        self.runner.run(job.spec, list(job.keys), lambda name, record: done.append((name, record)))
        return done


class Executor(Protocol):
    def run(self, jobs: Sequence[PartJob], parts_dir: Path, part_done: Callable[[], None]) -> None:
        """Run every job, storing its records in ``parts_dir``; ``part_done()`` after each part.
        Raises ``PartsLost`` when workers died, after the other parts are stored."""


class InProcess:
    """``--workers 1``: the parts one after another in this process."""

    def __init__(self, setup: WorkerSetup) -> None:
        self.worker = PartWorker(setup)

    def run(self, jobs: Sequence[PartJob], parts_dir: Path, part_done: Callable[[], None]) -> None:
        for job in jobs:
            self.worker.store(job, parts_dir)
            part_done()


_POOL_WORKER: PartWorker | None = None


def _start_pool_worker(setup: WorkerSetup) -> None:
    global _POOL_WORKER
    # A worker outlived a SIGKILLed driver, computing parts nobody would read; each part is stored whole
    # or not at all, so ending at once loses nothing a rerun does not redo.
    driver = multiprocessing.parent_process()
    on_parent_death(lambda: os._exit(1), driver.pid if driver is not None else None)
    _POOL_WORKER = PartWorker(setup)


def _store_in_pool_worker(job: PartJob, parts_dir: Path) -> int:
    assert _POOL_WORKER is not None, "worker not initialised"
    return _POOL_WORKER.store(job, parts_dir)


def local_cpus() -> int:
    """The CPUs this process may use (the container's share, not the host's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class LocalPool:
    """``--workers K``: K spawned processes on this machine (open3d is not fork-safe), each storing its parts."""

    def __init__(self, setup: WorkerSetup, workers: int) -> None:
        self.setup, self.workers = setup, workers

    def run(self, jobs: Sequence[PartJob], parts_dir: Path, part_done: Callable[[], None]) -> None:
        from concurrent.futures import ProcessPoolExecutor, as_completed

        # Each worker's OpenMP pool (open3d's ray casts) would take every CPU, K workers oversubscribing the
        # machine; Ray gives its workers the same limit. Measured on 2 shared CPUs, 2 workers, 4 parts: 4-8 %
        # less wall time. OpenMP reads it when a process loads it: it goes into the workers' environment.
        user_set = "OMP_NUM_THREADS" in os.environ
        if not user_set:
            os.environ["OMP_NUM_THREADS"] = str(max(1, local_cpus() // self.workers))
        pool = ProcessPoolExecutor(min(self.workers, len(jobs)), mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_start_pool_worker, initargs=(self.setup,))
        try:
            for future in as_completed([pool.submit(_store_in_pool_worker, job, parts_dir) for job in jobs]):
                future.result()
                part_done()
        finally:  # on an error or Ctrl-C, parts not started yet are dropped (a rerun does them)
            pool.shutdown(cancel_futures=True)
            if not user_set:
                del os.environ["OMP_NUM_THREADS"]

