"""Reader of labelled tactile datasets, the folder `inspection sim tactile` writes; calibration,
training and evaluation read it from here, so the tactile pipeline never reaches into the simulator.

Layout of DIR:
    dataset.json                 seed, kind, sensor, optics, frame list, height PNG scale
    background.png               the no-contact frame of this session (RGB)
    frames/000000.png            press frames (RGB)
    labels/000000.json           class, press depth, surface, pose, drift, defects (mm) in the frame
    truth/000000_height.png      true gel indentation, uint16 in units of HEIGHT_PNG_UNIT_MM
    truth/000000_contact.png     true contact mask (0/255)
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import cv2
import numpy as np

from inspection.errors import InputError

HEIGHT_PNG_UNIT_MM = 1e-4  # 0.1 um per count: 6.5 mm full scale


def read_rgb(path: Path) -> np.ndarray:
    """An RGB uint8 frame from a PNG, or InputError naming the file."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(f"{path}: not a readable image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


class TactileDataset:
    """Reads a folder in the layout above (from `inspection sim tactile`)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        meta_path = self.root / "dataset.json"
        if not meta_path.is_file():
            raise InputError(f"{meta_path}: not found; is {self.root} a dataset from `inspection sim tactile`?")
        try:
            self.meta = json.loads(meta_path.read_text())
            self.names: list[str] = list(self.meta["frames"])
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise InputError(f"{meta_path}: not a tactile dataset description ({exc})") from exc
        self.background = read_rgb(self.root / "background.png")

    def __len__(self) -> int:
        return len(self.names)

    def label(self, index: int) -> dict[str, Any]:
        path = self.root / "labels" / f"{self.names[index]}.json"
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"{path}: unreadable label ({exc})") from exc

    def frame(self, index: int) -> np.ndarray:
        return read_rgb(self.root / "frames" / f"{self.names[index]}.png")

    def true_height_mm(self, index: int) -> np.ndarray:
        path = self.root / "truth" / f"{self.names[index]}_height.png"
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if image is None:
            raise InputError(f"{path}: not a readable height map")
        return image.astype(np.float32) * float(self.meta.get("height_png_unit_mm", HEIGHT_PNG_UNIT_MM))

    def __iter__(self) -> Iterator[tuple[np.ndarray, dict[str, Any]]]:
        for index in range(len(self)):
            yield self.frame(index), self.label(index)
