"""The atlas's exemplar thumbnails of each latent, read without torch: the coordinator puts them in the
report beside each explained defect, `inspection explain image` and the top-latents bench beside each box.

An explainer ``NAME.pt`` ships ``NAME.json`` (its atlas: per latent a ``sprite_cell`` [row, column]) and
``NAME_atlas.png`` (the sprite: per latent EXEMPLARS thumbnails of THUMBNAIL_PX side by side)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from inspection.errors import InputError
from inspection.json_codec import read_json_file

EXEMPLARS = 3
THUMBNAIL_PX = 24


def sprite_path(explainer_path: Path) -> Path:
    return explainer_path.with_name(explainer_path.stem + "_atlas.png")


def read_sprite(explainer_path: Path) -> np.ndarray | None:
    """The sprite (RGB), or None when the explainer ships none."""
    image = cv2.imread(str(sprite_path(explainer_path)), cv2.IMREAD_COLOR)
    return None if image is None else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def latent_exemplars(sprite: np.ndarray, cell: list[int]) -> np.ndarray:
    """The EXEMPLARS thumbnails of one latent side by side (RGB), cut from the atlas sprite."""
    row, column = cell
    x0 = column * EXEMPLARS * THUMBNAIL_PX
    return sprite[row * THUMBNAIL_PX:(row + 1) * THUMBNAIL_PX, x0:x0 + EXEMPLARS * THUMBNAIL_PX]


def exemplar_strips(explainer_path: Path) -> dict[int, np.ndarray]:
    """Every atlas latent's strip of exemplars (RGB), by latent id; empty when the sprite is missing.

    A sidecar that is not an explainer's, or a cell outside the sprite, is named: the report would otherwise
    show the wrong thumbnails beside a defect."""
    sprite = read_sprite(explainer_path)
    if sprite is None:
        return {}
    sidecar_path = explainer_path.with_suffix(".json")
    sidecar = read_json_file(sidecar_path)
    atlas = sidecar.get("atlas") if isinstance(sidecar, dict) else None
    if not isinstance(atlas, list):
        raise InputError(f"{sidecar_path}: sidecar without an 'atlas' list")
    strips = {}
    for entry in atlas:
        try:
            latent, (row, column) = int(entry["id"]), entry["sprite_cell"]
            strip = latent_exemplars(sprite, [int(row), int(column)])
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{sidecar_path}: atlas entry {str(entry)[:80]}: no id or sprite_cell ({exc})") from exc
        if strip.shape[:2] != (THUMBNAIL_PX, EXEMPLARS * THUMBNAIL_PX):
            raise InputError(f"{sidecar_path}: latent {latent}: sprite_cell {[row, column]} lies outside "
                             f"{sprite_path(explainer_path)}")
        strips[latent] = strip
    return strips
