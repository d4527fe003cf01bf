"""The campaign: N random simulated parts through the pipeline per ablation, resumable, in worker processes.

Each finished (part, ablation) is written at once, atomically, to ``<OUT stem>_parts/`` beside OUT,
with a key that hashes everything its result depends on (seed, part settings, node parameters,
cell file, model files). A rerun skips what is already there under the same key, so an interrupted
campaign goes on where it stopped, and ``--parts 40`` after ``--parts 20`` runs only the 20 new parts;
a changed setting or model makes the parts run again. The parts run in this process, in local worker
processes or as Ray actors on a cluster (``executors``); each worker loads the models once, and which
executor ran a part changes nothing in its record.
"""
from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

from inspection.atomic import write_json_atomic
from inspection.campaign.executors import EXECUTORS, Executor, InProcess, LocalPool, PartJob, WorkerSetup
from inspection.campaign.metrics import summarise
from inspection.campaign.part_store import finished
from inspection.campaign.runner import (ABLATIONS, CORE_SOURCE, PAPER_CONFIDENCE, PART_SCHEMA, PartSpec,
                                        ablation_base, pipeline_digests, pipeline_files)
from inspection.errors import InputError
from inspection.outputs import check_output_file

CAMPAIGN_SCHEMA = "inspection.campaign/1"
PART_KINDS = ("random", "cylinder_panel", "dome", "saddle", "leading_edge")
NODES = ("sim_node", "vision_node", "planner_node", "tactile_node", "coordinator_node")
BUDGET_PARAMS = ("defect_calibration", "max_presses", "residual_risk")  # planner_node: the press budget
MIN_PART_SCALE = 0.5  # smaller parts leave no room for defects inside the 40 mm edge margin of the scene


def parse_ablations(values: Sequence[str]) -> tuple[str, ...]:
    """``--ablation`` values (repeatable, comma-separated, or ``all``) in the canonical order."""
    names = {n.strip() for value in values for n in value.split(",") if n.strip()}
    if "all" in names:
        return ABLATIONS
    unknown = sorted(names - set(ABLATIONS))
    if unknown or not names:
        raise InputError(f"--ablation {','.join(unknown) or '(empty)'}: expected some of {', '.join(ABLATIONS)} or all")
    return tuple(a for a in ABLATIONS if a in names)


@dataclass(frozen=True)
class CampaignOptions:
    out: Path
    parts: int
    seed: int
    ablations: tuple[str, ...] = ("paper",)
    workers: int | None = None  # None: one locally, one per CPU of the Ray cluster
    executor: str = "local"
    ray_address: str | None = None  # None with the Ray executor: a Ray instance on this machine
    low_confidence: float = 0.05
    press_budgets: tuple[int, ...] = (4, 8, 16, 32)  # presses per part, one budgeted-N ablation each
    part_kind: str = "random"
    part_scale: float = 1.0
    defect_free: bool = False
    width: int = 0
    height: int = 0
    params_file: Path | None = None
    cell_file: Path | None = None
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)

    def check(self) -> None:
        if self.parts < 1:
            raise InputError(f"--parts {self.parts}: need at least one part")
        if self.workers is not None and self.workers < 1:
            raise InputError(f"--workers {self.workers}: need at least one")
        if self.executor not in EXECUTORS:
            raise InputError(f"--executor {self.executor}: expected one of {', '.join(EXECUTORS)}")
        if self.ray_address is not None and self.executor != "ray":
            raise InputError(f"--ray-address {self.ray_address}: only with --executor ray")
        if self.part_kind not in PART_KINDS:
            raise InputError(f"--part-kind {self.part_kind!r}: expected one of {', '.join(PART_KINDS)}")
        if not MIN_PART_SCALE <= self.part_scale <= 1.0:
            raise InputError(f"--part-scale {self.part_scale}: expected {MIN_PART_SCALE} to 1")
        if (self.width == 0) != (self.height == 0) or min(self.width, self.height) < 0 or 0 < min(self.width, self.height) < 64:
            raise InputError(f"--width/--height {self.width}x{self.height}: give both (at least 64 px) or neither")
        if not self.press_budgets or min(self.press_budgets) < 1:
            raise InputError(f"--press-budgets {','.join(map(str, self.press_budgets)) or '(empty)'}: expected "
                             f"whole numbers of presses per part, at least 1")
        if self.out.suffix != ".json":
            raise InputError(f"--json {self.out}: expected a .json file name")
        check_output_file(self.out, "--json")  # a folder, under a file, unwritable: named before any part

    @property
    def parts_dir(self) -> Path:
        return self.out.with_name(self.out.stem + "_parts")

    @property
    def runs(self) -> tuple[str, ...]:
        """The ablations as run and reported: ``budgeted`` becomes one ``budgeted-N`` per press budget."""
        return tuple(name for a in self.ablations for name in
                     ([f"budgeted-{n}" for n in sorted(set(self.press_budgets))] if a == "budgeted" else [a]))

    def spec(self, index: int) -> PartSpec:
        return PartSpec(self.seed, index, self.part_kind, self.part_scale, self.width, self.height, self.defect_free)


def load_params(options: CampaignOptions) -> dict[str, dict[str, Any]]:
    """The nodes' parameters, as `inspection run` would start them (file, then ``--set`` overrides)."""
    from inspection.config import load_node_params

    unknown = sorted(set(options.overrides) - set(NODES))
    if unknown:
        raise InputError(f"--set {unknown[0]}.*: the campaign runs {', '.join(NODES)}")
    return {name: load_node_params(name, options.params_file, options.overrides.get(name)) for name in NODES}


def ablation_keys(options: CampaignOptions, params: dict[str, dict[str, Any]],
                  digests: dict[str, str]) -> dict[str, str]:
    """Per ablation, a hash of everything its per-part result depends on (``--parts``, ``--workers`` and the
    executor excepted); ``digests`` are ``pipeline_digests``: the files', by role, and the code's."""
    files = pipeline_files(options.cell_file, params)
    # Only the ablations that may spend the planner's press budget depend on its settings and calibration.
    budget_free = {"files": {str(files[r]): digests[r] for r in files if r != "defect_calibration"},
                   "params": {**params, "planner_node": {k: v for k, v in params["planner_node"].items()
                                                         if k not in BUDGET_PARAMS}}}
    common = {"schema": PART_SCHEMA, "seed": options.seed, "part_kind": options.part_kind,
              "part_scale": options.part_scale, "defect_free": options.defect_free, "width": options.width,
              "height": options.height,
              "params": params, "files": {str(files[role]): digests[role] for role in files},
              "code": digests[CORE_SOURCE]}
    keys = {}
    for name in options.runs:
        low = ablation_base(name) in ("low-confidence", "budgeted")
        extra = {"low_confidence": options.low_confidence} if low else {}
        if ablation_base(name) not in ("shipped", "budgeted"):
            extra.update(budget_free)
        text = json.dumps({**common, "ablation": name, **extra}, sort_keys=True, default=str)
        keys[name] = hashlib.sha256(text.encode()).hexdigest()[:20]
    return keys


def make_executor(kind: str, workers: int | None, ray_address: str | None, setup: WorkerSetup) -> Executor:
    """The executor for ``--executor`` (one of ``EXECUTORS``); ``workers`` None: one locally, one per CPU of
    the Ray cluster."""
    if kind == "ray":
        from inspection.campaign.ray_executor import RayExecutor

        return RayExecutor(setup, workers, ray_address)
    return InProcess(setup) if (workers or 1) == 1 else LocalPool(setup, workers or 1)


def run_campaign(options: CampaignOptions, progress: bool = True) -> dict[str, Any]:
    """Run what is not done yet, then summarise every part of the campaign into OUT, its markdown and plots."""
    from inspection.campaign.output import write_outputs
    from inspection.cell import load_cell
    from inspection.progress import progress_bar
    from inspection.vision.shape import shape_lights

    options.check()
    params = load_params(options)
    low_used = {"low-confidence", "budgeted"} & set(options.ablations)
    if low_used and not 0.0 < options.low_confidence < PAPER_CONFIDENCE:
        raise InputError(f"--low-confidence {options.low_confidence}: must be above 0 and below the paper's "
                         f"threshold ({PAPER_CONFIDENCE})")
    cell = load_cell(options.cell_file)  # a bad cell file fails here, before any part runs
    shape_lights(params["vision_node"], cell.camera.photometric, str(options.cell_file or "config/cell.yaml"))
    digests = pipeline_digests(options.cell_file, params)
    keys = ablation_keys(options, params, digests)
    low = options.low_confidence if low_used else None
    executor = make_executor(options.executor, options.workers, options.ray_address,
                             WorkerSetup(options.cell_file, params, low, digests))  # a missing Ray fails here
    parts_dir = options.parts_dir
    jobs = []
    for index in range(options.parts):
        missing = {a: keys[a] for a in options.runs if finished(parts_dir, index, a, keys[a]) is None}
        if missing:
            jobs.append(PartJob(options.spec(index), missing))
    done = options.parts - len(jobs)
    if done:
        print(f"resuming: {done} of {options.parts} parts already done in {parts_dir}", file=sys.stderr)
    bar = progress_bar(total=options.parts, initial=done, unit="part", desc="campaign", enabled=progress)
    try:
        if jobs:
            executor.run(jobs, parts_dir, bar.update)
    finally:
        bar.close()
    records = {a: [finished(parts_dir, i, a, keys[a]) for i in range(options.parts)] for a in options.runs}
    lost = [f"{a} part {i}" for a, rows in records.items() for i, r in enumerate(rows) if r is None]
    if lost:
        raise RuntimeError(f"no result for {', '.join(lost[:5])} in {parts_dir}")
    ablations = {a: summarise(rows) for a, rows in records.items()}  # type: ignore[arg-type]
    # The headline is the pipeline as shipped (config/pipeline.yaml, what `inspection demo` runs) when it ran.
    headline = next(a for a in ("shipped", "paper", *options.runs) if a in ablations)
    where_run = ("out", "workers", "executor", "ray_address")  # results do not depend on these
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(options).items() if k not in where_run}
    summary = {"schema": CAMPAIGN_SCHEMA, "settings": settings, "keys": keys, "headline_ablation": headline,
               **{k: v for k, v in ablations[headline].items() if k not in ("per_class", "per_size", "counts")},
               "per_class": ablations[headline]["per_class"], "per_size": ablations[headline]["per_size"],
               "ablations": ablations, "parts_folder": str(parts_dir)}
    summary["outputs"] = write_outputs(summary, options.out)
    write_json_atomic(options.out, summary)
    return summary
