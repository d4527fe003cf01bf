"""The latent atlas: what each live SAE latent fires on, so that an explanation can name it.

For every latent: how often it fires, the share of its firings that fall inside a labelled box of
each defect class (its precision for that class; the rest is background), its top-activating image
patches, and a short automatic label: the class it is most precise for (or "background") and a
description of its exemplar patches from their pixels (darker or brighter centre than surround;
a line or edge and its direction from the structure tensor, or a spot or texture).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from torch import Tensor

from inspection.explain.exemplars import EXEMPLARS, THUMBNAIL_PX
from inspection.explain.features import LetterboxedImage

PATCH_PX = 48  # pixels of the letterboxed image around a position (six 8-px cells)
SPRITE_COLUMNS = 16  # latents per sprite row
# A latent is named after a class when at least this share of its strongest firings lie in that class's
# boxes (boxes cover about 5% of the positions of the training images, so 0.3 is six times chance).
MIN_CLASS_PRECISION = 0.3
STRONGEST_FIRINGS = 64
BACKGROUND = "background"


@dataclass(frozen=True)
class Firing:
    image: int
    row: int
    col: int
    activation: float


def class_masks(images: list[LetterboxedImage], classes: list[str], height: int, width: int,
                stride: float) -> np.ndarray:
    """(images, classes, H, W) booleans: the position's cell centre lies in a box of that class."""
    masks = np.zeros((len(images), len(classes), height, width), dtype=bool)
    centres_y = (np.arange(height) + 0.5) * stride
    centres_x = (np.arange(width) + 0.5) * stride
    for i, image in enumerate(images):
        for box in image.boxes:
            if box.class_name not in classes:
                continue
            rows = (centres_y >= box.y1) & (centres_y <= box.y2)
            cols = (centres_x >= box.x1) & (centres_x <= box.x2)
            if not rows.any():  # a box thinner than a cell still marks the cell it lies in
                rows[min(height - 1, int((box.y1 + box.y2) / 2 / stride))] = True
            if not cols.any():
                cols[min(width - 1, int((box.x1 + box.x2) / 2 / stride))] = True
            masks[i, classes.index(box.class_name)] |= rows[:, None] & cols[None, :]
    return masks


def _patch(image: LetterboxedImage, row: int, col: int, stride: float) -> np.ndarray:
    size = image.pixels.shape[0]
    cy, cx = int((row + 0.5) * stride), int((col + 0.5) * stride)
    half = PATCH_PX // 2
    y0, x0 = min(max(0, cy - half), size - PATCH_PX), min(max(0, cx - half), size - PATCH_PX)
    return image.pixels[y0:y0 + PATCH_PX, x0:x0 + PATCH_PX]


def describe_patches(patches: list[np.ndarray]) -> str:
    """A few words on what the patches share: centre contrast and line/edge direction."""
    grey = [cv2.cvtColor(p, cv2.COLOR_RGB2GRAY).astype(np.float32) for p in patches]
    centre = [g[PATCH_PX // 2 - 8:PATCH_PX // 2 + 8, PATCH_PX // 2 - 8:PATCH_PX // 2 + 8].mean() - g.mean() for g in grey]
    jxx = jyy = jxy = energy = 0.0
    for g in grey:
        gx, gy = cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1)
        jxx, jyy, jxy = jxx + float((gx * gx).mean()), jyy + float((gy * gy).mean()), jxy + float((gx * gy).mean())
        energy += float(np.sqrt(gx * gx + gy * gy).mean()) / len(grey)
    contrast = float(np.mean(centre))
    tone = "dark" if contrast < -6 else "bright" if contrast > 6 else "even"
    if energy < 15:
        return f"{tone} smooth surface"
    coherence = np.sqrt((jxx - jyy) ** 2 + 4 * jxy ** 2) / (jxx + jyy + 1e-6)
    if coherence < 0.25:
        return f"{tone} spot or texture"
    gradient_angle = 0.5 * np.degrees(np.arctan2(2 * jxy, jxx - jyy))  # dominant gradient direction
    line_angle = (gradient_angle + 90.0) % 180.0  # a line runs across its gradient
    direction = ("horizontal" if line_angle < 22.5 or line_angle >= 157.5 else
                 "vertical" if 67.5 <= line_angle < 112.5 else "diagonal")
    return f"{tone} {direction} line or edge"


def _strongest_firings(acts: np.ndarray, indices: np.ndarray, num_latents: int) -> list[np.ndarray]:
    """Per latent, the flat positions (into ``acts``) of its STRONGEST_FIRINGS largest positive activations."""
    flat_acts, flat_ids = acts.reshape(-1), indices.reshape(-1)
    positive = np.flatnonzero(flat_acts > 0)
    order = positive[np.lexsort((-flat_acts[positive], flat_ids[positive]))]
    starts = np.searchsorted(flat_ids[order], np.arange(num_latents + 1))
    return [order[starts[latent]:min(starts[latent + 1], starts[latent] + STRONGEST_FIRINGS)]
            for latent in range(num_latents)]


def build_atlas(images: list[LetterboxedImage], top_acts: Tensor, top_indices: Tensor, num_latents: int,
                classes: list[str], stride: float) -> tuple[list[dict[str, Any]], np.ndarray]:
    """The atlas entries of the live latents (fired at least once) and the exemplar sprite (RGB).

    ``top_acts``/``top_indices``: (images, k, H, W) from the SAE over ``images``. A latent's precision
    for a class is the share of its STRONGEST_FIRINGS strongest firings that lie in boxes of that class
    (what the latent is about when it is sure); ``firing_share`` is how often it is active at all."""
    count, _, height, width = top_acts.shape
    masks = class_masks(images, classes, height, width, stride)
    acts, indices = top_acts.float().numpy(), top_indices.numpy()
    firings = np.bincount(indices[acts > 0], minlength=num_latents)
    strongest = _strongest_firings(acts, indices, num_latents)
    live = [latent for latent in range(num_latents) if firings[latent] > 0]
    rows = (len(live) + SPRITE_COLUMNS - 1) // SPRITE_COLUMNS
    sprite = np.full((max(1, rows) * THUMBNAIL_PX, SPRITE_COLUMNS * EXEMPLARS * THUMBNAIL_PX, 3), 255, np.uint8)
    entries = []
    for slot, latent in enumerate(live):
        image_ids, _, row_ids, col_ids = np.unravel_index(strongest[latent], acts.shape)
        inside = masks[image_ids, :, row_ids, col_ids]  # (firings, classes)
        precision = inside.mean(axis=0) if len(inside) else np.zeros(len(classes))
        top_class = int(np.argmax(precision))
        exemplars: list[Firing] = []
        for position, image, row, col in zip(strongest[latent], image_ids, row_ids, col_ids):
            if len(exemplars) < EXEMPLARS and all(f.image != image for f in exemplars):
                exemplars.append(Firing(int(image), int(row), int(col), float(acts.reshape(-1)[position])))
        patches = [_patch(images[f.image], f.row, f.col, stride) for f in exemplars]
        what = describe_patches(patches) if patches else "no exemplar"
        named = classes[top_class] if precision[top_class] >= MIN_CLASS_PRECISION else BACKGROUND
        cell_row, cell_col = divmod(slot, SPRITE_COLUMNS)
        for e, patch in enumerate(patches):
            y0, x0 = cell_row * THUMBNAIL_PX, (cell_col * EXEMPLARS + e) * THUMBNAIL_PX
            sprite[y0:y0 + THUMBNAIL_PX, x0:x0 + THUMBNAIL_PX] = cv2.resize(
                patch, (THUMBNAIL_PX, THUMBNAIL_PX), interpolation=cv2.INTER_AREA)
        entries.append({
            "id": latent, "label": f"{named}: {what}",
            "firing_share": round(float(firings[latent]) / (count * height * width), 6),
            "strongest_firings": int(len(inside)),
            "class_precision": {classes[c]: round(float(precision[c]), 3) for c in range(len(classes))
                                if precision[c] > 0},
            "background_precision": round(float(1.0 - inside.any(axis=1).mean()) if len(inside) else 1.0, 3),
            "exemplars": [{"image": images[f.image].path.name, "x": (f.col + 0.5) * stride,
                           "y": (f.row + 0.5) * stride, "activation": round(f.activation, 4)} for f in exemplars],
            "sprite_cell": [cell_row, cell_col],
        })
    return entries, sprite


def entries_by_id(atlas: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {int(entry["id"]): entry for entry in atlas}


def encode_png(rgb: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return data.tobytes()

