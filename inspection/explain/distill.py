"""Training the detector around the spliced SAE (LoRA, the paper's method) and, as its baseline, the
SAE through the frozen detector (end to end), both with the same distillation objective.

The objective is the detection analogue of the paper's KL to the original model's next-token
distribution: at every anchor, the Bernoulli KL of each class score (YOLO scores classes with
independent sigmoids) plus the KL of the four box-side distributions (Distribution Focal Loss bins),
the box term weighted by the teacher's confidence that anything is there (a background anchor's box
is meaningless). Both sums are divided by the teacher's total confidence, so an image with many
defects and one with few weigh alike per defect.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from inspection.errors import InputError
from inspection.explain.sae import ConvSae
from inspection.explain.splice import SPLICE_LAYER, run_from_splice, run_to_splice

# Every this many steps the run is scored on the held-out crops: "time to reach a loss" reads that score,
# not the training loss, whose one-batch noise (a batch of empty crops scores near zero) can end a
# comparison at its first step.
EVAL_EVERY = 25
# Adapters before the splice are scored through the whole network (the held-out images' crops, about 50 s on
# two cores against 2 s from cached layers): half as often, or scoring would take twice the training's time.
EVAL_EVERY_WHOLE_NETWORK = 50
HELD_OUT_EVERY = 10  # every tenth training image is held out of the updates and scores the run


def distillation_loss(student: dict[str, Tensor], teacher: dict[str, Tensor], reg_max: int) -> Tensor:
    """Class-score KL plus confidence-weighted box-distribution KL, per unit of teacher confidence."""
    teacher_logits, student_logits = teacher["scores"].float(), student["scores"].float()
    teacher_p = teacher_logits.sigmoid()
    class_kl = (F.binary_cross_entropy_with_logits(student_logits, teacher_p, reduction="none")
                - F.binary_cross_entropy_with_logits(teacher_logits, teacher_p, reduction="none"))
    weight = teacher_p.max(1).values  # (B, A)
    batch, _, anchors = teacher["boxes"].shape
    teacher_bins = teacher["boxes"].float().view(batch, 4, reg_max, anchors).log_softmax(2)
    student_bins = student["boxes"].float().view(batch, 4, reg_max, anchors).log_softmax(2)
    box_kl = (teacher_bins.exp() * (teacher_bins - student_bins)).sum(2).sum(1)  # (B, A)
    mass = weight.sum().clamp_min(1e-6)
    return (class_kl.sum() + (box_kl * weight).sum()) / mass


@dataclass
class LossCurve:
    """Held-out distillation loss against training seconds (the held-out scoring's own time left out),
    from before the first step to the last."""

    seconds: list[float] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)
    learning_rate: list[float] = field(default_factory=list)  # the rate the next step would use

    def seconds_to_reach(self, target: float) -> float | None:
        return next((s for s, value in zip(self.seconds, self.loss) if value <= target), None)


@dataclass(frozen=True)
class TeacherOutputs:
    """The original detector's raw head outputs on every training crop: the teacher. float16 to save memory."""

    teacher_boxes: Tensor
    teacher_scores: Tensor

    def __len__(self) -> int:
        return len(self.teacher_scores)

    def teacher(self, rows: Tensor) -> dict[str, Tensor]:
        return {"boxes": self.teacher_boxes[rows].float(), "scores": self.teacher_scores[rows].float()}


@dataclass(frozen=True)
class DistillationCache(TeacherOutputs):
    """Per training crop, what the layers after the splice need (skip inputs and the spliced layer's own
    output, float16) beside the teacher."""

    saved: dict[int, Tensor]

    def inputs(self, rows: Tensor) -> tuple[dict[int, Tensor], Tensor]:
        skips = {i: t[rows].float() for i, t in self.saved.items() if i != SPLICE_LAYER}
        return skips, self.saved[SPLICE_LAYER][rows].float()

    def student(self, model: nn.Module, sae: nn.Module, rows: Tensor) -> dict[str, Tensor]:
        """Raw head logits of ``model`` with ``sae`` spliced in, from the cached layers before the splice."""
        skips, layer_output = self.inputs(rows)
        return run_from_splice(model, skips, sae(layer_output))[1]


@dataclass(frozen=True)
class ImageDistillationCache(TeacherOutputs):
    """The training crops themselves (uint8 RGB, NCHW) beside the teacher, for adapters that reach the layers
    before the splice: those layers change with every step, so nothing before the splice can be cached
    and every step runs the whole network."""

    images: Tensor

    def student(self, model: nn.Module, sae: nn.Module, rows: Tensor) -> dict[str, Tensor]:
        saved = run_to_splice(model, self.images[rows].float() / 255.0)
        layer_output = saved.pop(SPLICE_LAYER)
        return run_from_splice(model, saved, sae(layer_output))[1]


def crop_tiles(saved: dict[int, Tensor], imgsz: int, crop: int) -> dict[int, Tensor]:
    """Cut every cached map into the aligned ``crop``-pixel squares of the ``imgsz`` input (four 320-px
    quadrants of a 640 tile): the layers after the splice are convolutions, so training them on quarter
    tiles costs a quarter per sample, while the cached layers before the splice still saw the whole tile.
    Teacher and student both run on the same crop, so the objective stays consistent."""
    if crop <= 0 or crop >= imgsz:
        return saved
    if imgsz % crop or crop % 32:
        raise InputError(f"--crop {crop}: must divide the input size {imgsz} and be a multiple of 32")
    per_side = imgsz // crop
    result = {}
    for index, maps in saved.items():
        cell = maps.shape[-1] // per_side  # the crop in this layer's cells
        pieces = [maps[:, :, r * cell:(r + 1) * cell, c * cell:(c + 1) * cell]
                  for r in range(per_side) for c in range(per_side)]
        result[index] = torch.cat(pieces).contiguous()
    return result


def teacher_cache(model: nn.Module, saved: dict[int, Tensor], batch: int = 4) -> DistillationCache:
    boxes, scores = [], []
    with torch.no_grad():
        for start in range(0, len(saved[SPLICE_LAYER]), batch):
            rows = torch.arange(start, min(start + batch, len(saved[SPLICE_LAYER])))
            skips = {i: t[rows].float() for i, t in saved.items() if i != SPLICE_LAYER}
            _, raw = run_from_splice(model, skips, saved[SPLICE_LAYER][rows].float())
            boxes.append(raw["boxes"].half())
            scores.append(raw["scores"].half())
    return DistillationCache(teacher_boxes=torch.cat(boxes), teacher_scores=torch.cat(scores), saved=saved)


def held_out_rows(crops: int, images: int) -> Tensor:
    """The cache rows of every ``HELD_OUT_EVERY``-th image: all its crops (``crop_tiles`` puts crop ``c``
    of image ``i`` at row ``c * images + i``), so no crop of a held-out image is trained on."""
    rows = torch.arange(crops)
    return rows[(rows % images) % HELD_OUT_EVERY == 0]


AnyDistillationCache = DistillationCache | ImageDistillationCache


def rows_loss(model: nn.Module, sae: nn.Module, cache: AnyDistillationCache, rows: Tensor, reg_max: int) -> Tensor:
    """The distillation loss of the model with ``sae`` spliced in, on the cache ``rows``."""
    return distillation_loss(cache.student(model, sae, rows), cache.teacher(rows), reg_max)


def held_out_loss(model: nn.Module, sae: nn.Module, cache: AnyDistillationCache, rows: Tensor, reg_max: int,
                  batch: int = 8) -> float:
    """Mean distillation loss over ``rows`` in fixed batches: the same number for the same weights."""
    with torch.no_grad():
        losses = [float(rows_loss(model, sae, cache, rows[start:start + batch], reg_max))
                  for start in range(0, len(rows), batch)]
    return sum(losses) / len(losses)


def distill(model: nn.Module, sae: ConvSae, cache: AnyDistillationCache, parameters: list[nn.Parameter], *,
            steps: int, batch: int, lr: float, seed: int, held_out: Tensor, cosine: bool = False,
            stop_below: float | None = None, log: Callable[[str], None] | None = None, name: str = "",
            eval_every: int = EVAL_EVERY) -> LossCurve:
    """Adam on ``parameters`` (LoRA adapters, or the SAE for the end-to-end baseline) so that the model
    with the SAE spliced in matches the cached teacher, on every cache row but ``held_out``; those score
    the run every ``eval_every`` steps. With ``cosine`` the learning rate falls from ``lr`` to zero over
    ``steps`` (at a constant rate the held-out loss wanders by about 0.02 around its level, and the last
    score is the target the baseline is timed against). Stops early once the held-out loss reaches
    ``stop_below``."""
    if len(held_out) == 0 or len(held_out) >= len(cache):
        raise InputError(f"distillation: {len(held_out)} held-out crops of {len(cache)}: need some of each")
    reg_max = int(model.model[-1].reg_max)
    optimizer = torch.optim.Adam(parameters, lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps) if cosine else None
    generator = torch.Generator().manual_seed(seed)
    trained = torch.ones(len(cache), dtype=torch.bool)
    trained[held_out] = False
    train_rows = torch.nonzero(trained).flatten()
    curve, training_seconds = LossCurve(), 0.0

    def score(step: int) -> bool:
        curve.seconds.append(training_seconds)
        curve.loss.append(held_out_loss(model, sae, cache, held_out, reg_max))
        curve.steps.append(step)
        curve.learning_rate.append(float(optimizer.param_groups[0]["lr"]))
        if log:
            log(f"{name} step {step}/{steps}: held-out loss {curve.loss[-1]:.4f}, lr {curve.learning_rate[-1]:.2e}, "
                f"{training_seconds:.0f} s")
        return stop_below is not None and curve.loss[-1] <= stop_below

    if score(0):
        return curve
    for step in range(1, steps + 1):
        started = time.monotonic()
        rows = train_rows[torch.randint(0, len(train_rows), (batch,), generator=generator)]
        loss = rows_loss(model, sae, cache, rows, reg_max)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if schedule is not None:
            schedule.step()
        if isinstance(sae, ConvSae) and any(p is sae.W_dec for p in parameters):
            sae.normalise_decoder()
        training_seconds += time.monotonic() - started
        if (step % eval_every == 0 or step == steps) and score(step):
            break
    return curve
