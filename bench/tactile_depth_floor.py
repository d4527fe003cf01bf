"""How well Stage II's depth measurement could do with a perfect reconstruction (simulated, #15 item 5).

`inspection eval tactile` scores depth on heightmaps reconstructed from the frames. This runs the same
measurement (``measure`` on ``surface_residual``) on the simulator's true gel indentation and true contact
(``truth/*_height.png``, ``truth/*_contact.png``) with the true class, over the same defects the sign-off
figure counts (deeper than ``evaluate.SIGN_OFF_DEPTH_MM``, holes left out). What remains is the error of the
measurement itself at the sensor's pixel size: a crack 0.1 mm wide or a pit's tip falls between pixel
centres. Reconstruction cannot do better than this floor.

    .venv/bin/python bench/tactile_depth_floor.py runs/tactile_texture/depth_test
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from inspection.datasets.tactile import HEIGHT_PNG_UNIT_MM
from inspection.tactile.evaluate import DEPTH_NOT_FELT, SIGN_OFF_DEPTH_MM
from inspection.tactile.measure import measure, surface_residual
from inspection.tactile.reconstruct import Reconstruction


def depth_floor(root: Path) -> dict:
    """Depth MAE (mm) of the measurement on the true indentation, overall and per class."""
    meta = json.loads((root / "dataset.json").read_text())
    pixel_size_m = meta["sensor"]["pixel_size_m"]
    errors: dict[str, list[float]] = {}
    for name in meta["frames"]:
        label = json.loads((root / "labels" / f"{name}.json").read_text())
        truth = label["defects"][0] if label["defects"] else None
        if truth is None or label["class_name"] in ("none", *DEPTH_NOT_FELT) or truth["depth_mm"] <= SIGN_OFF_DEPTH_MM:
            continue
        counts = cv2.imread(str(root / "truth" / f"{name}_height.png"), cv2.IMREAD_UNCHANGED)
        contact = cv2.imread(str(root / "truth" / f"{name}_contact.png"), cv2.IMREAD_UNCHANGED) > 0
        height_mm = counts.astype(np.float32) * HEIGHT_PNG_UNIT_MM
        rec = Reconstruction(np.zeros(height_mm.shape + (3,), np.float32), contact, height_mm, pixel_size_m)
        result = measure(rec, label["class_name"], surface_residual(rec))
        errors.setdefault(label["class_name"], []).append(abs(result.depth_mm - truth["depth_mm"]))
    every = [e for values in errors.values() for e in values]
    return {"dataset": str(root), "deeper_than_mm": SIGN_OFF_DEPTH_MM, "defects": len(every),
            "depth_mae_mm": round(float(np.mean(every)), 4) if every else None,
            "per_class": {name: round(float(np.mean(v)), 4) for name, v in errors.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", type=Path, help="a defect dataset of `inspection sim tactile` (with truth/)")
    print(json.dumps(depth_floor(parser.parse_args().dataset)))


if __name__ == "__main__":
    main()
