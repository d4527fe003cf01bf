"""Images for the explainer: the training photographs and tiles, letterboxed to the detector's input
exactly as the deployed backends do, and the detector's activations on them."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from inspection.datasets import Box, ImageRecord, load_dataset, reproducible_order
from inspection.errors import InputError
from inspection.explain.splice import run_to_splice
from inspection.vision.backends import letterbox
from inspection.vision.evaluation import read_rgb


@dataclass(frozen=True)
class LetterboxedImage:
    """One image as the detector sees it, with its labelled boxes in the same (letterbox) pixels."""

    path: Path
    pixels: np.ndarray  # imgsz x imgsz x 3 uint8 RGB
    boxes: tuple[Box, ...]


def pick_images(datasets: list[Path], per_dataset: int, split: str, class_map: dict[str, str],
                seed: int = 0) -> list[ImageRecord]:
    """``per_dataset`` images of ``split`` from each dataset, in a reproducible pseudo-random order."""
    if per_dataset < 1:
        raise InputError(f"--images-per-dataset {per_dataset}: must be at least 1")
    chosen: list[ImageRecord] = []
    for root in datasets:
        dataset = load_dataset(root, split=split, class_map=class_map)
        if not dataset.images:
            raise InputError(f"{root}: no usable images in split {split!r}")
        chosen += reproducible_order(dataset.images, dataset.root, seed)[:per_dataset]
    return chosen


def letterboxed(records: list[ImageRecord], imgsz: int) -> list[LetterboxedImage]:
    images = []
    for record in records:
        pixels, scale, (left, top) = letterbox(read_rgb(record.path), imgsz)
        boxes = tuple(Box(b.class_name, b.x1 * scale + left, b.y1 * scale + top, b.x2 * scale + left,
                          b.y2 * scale + top) for b in record.boxes)
        images.append(LetterboxedImage(record.path, pixels, boxes))
    return images


def pixel_stack(images: list[LetterboxedImage]) -> Tensor:
    """The images' RGB pixels as one uint8 NCHW tensor (a quarter of the memory of floats)."""
    return torch.from_numpy(np.stack([image.pixels for image in images])).permute(0, 3, 1, 2).contiguous()


def splice_inputs(model: nn.Module, images: list[LetterboxedImage] | Tensor, batch: int = 4,
                  progress: Callable[[int, int], None] | None = None) -> dict[int, Tensor]:
    """Per layer index, the outputs ``run_to_splice`` keeps (skip inputs and the spliced layer), stacked
    over ``images`` (letterboxed images, or uint8 NCHW pixels) in float16 to halve the memory; the
    spliced layer's output is the SAE's training data. The model sees RGB in [0, 1], NCHW, as
    Ultralytics' predictor feeds it."""
    pixels = images if isinstance(images, Tensor) else pixel_stack(images)
    stacks: dict[int, list[Tensor]] = {}
    with torch.no_grad():
        for start in range(0, len(pixels), batch):
            for index, output in run_to_splice(model, pixels[start:start + batch].float() / 255.0).items():
                stacks.setdefault(index, []).append(output.half())
            if progress:
                progress(min(start + batch, len(pixels)), len(pixels))
    return {index: torch.cat(parts) for index, parts in stacks.items()}


def positions(feature_maps: Tensor) -> Tensor:
    """(B, C, H, W) -> (B x H x W, C): one SAE input vector per spatial position."""
    return feature_maps.permute(0, 2, 3, 1).reshape(-1, feature_maps.shape[1])

