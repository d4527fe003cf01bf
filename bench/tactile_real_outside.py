"""Real GelSight Mini frames: does anything but the nick lift a fault frame above the reference's threshold?

Each fault frame of the sample (4 good frames of a threaded part from one press position, 4 with a nick
recorded the next day at other positions) is scored by a reference fitted on 3 of the good frames (seeds
0 and 1, as `inspection eval tactile --fit-good 3 --seed S`), once over the whole frame and once outside
its nick: the box read off the image by eye (docs/tactile.md) grown by GROW_PX. A fault frame whose
score outside the nick is above the threshold would be flagged without its defect: a shortcut, not a
detection (real frames, labels by eye).

    .venv/bin/python bench/tactile_real_outside.py [--dataset /work/shared/data/gelsight-mini-sample]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from inspection.tactile.reference_eval import held_out_reference

GROW_PX = 16
# (x0, y0, x1, y1) of the nick in each fault frame, read off the images by eye, keyed by the file's last
# six characters before ".png".
NICK_BOXES = {"113722": (110, 35, 145, 88), "115620": (125, 45, 200, 105), "120050": (125, 0, 225, 105),
              "120539": (165, 118, 220, 152)}


def outside_nick(dataset: Path, seed: int) -> dict:
    reference = held_out_reference(dataset, 3, seed)
    frames = []
    for path in sorted((dataset / "fault").glob("*.png")):
        box = NICK_BOXES.get(path.stem[-6:])
        if box is None:
            continue
        frame = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        x0, y0, x1, y1 = box
        near_nick = np.zeros(frame.shape[:2], bool)
        near_nick[max(0, y0 - GROW_PX):y1 + GROW_PX, max(0, x0 - GROW_PX):x1 + GROW_PX] = True
        result = reference.anomaly(frame)
        outside = np.where(near_nick, 0.0, result.per_pixel())
        row, column = np.unravel_index(int(np.argmax(outside)), outside.shape)
        frames.append({"file": path.name, "score": round(result.score, 2), "outside_nick": round(float(outside.max()), 2),
                       "outside_peak_xy": [int(column), int(row)],
                       "flagged_without_nick": bool(outside.max() > reference.threshold)})
    return {"seed": seed, "threshold": round(reference.threshold, 2), "frames": frames,
            "flagged_without_nick": sum(f["flagged_without_nick"] for f in frames)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="/work/shared/data/gelsight-mini-sample",
                        help="folder with good/ and fault/ real frames (the sample's file names)")
    args = parser.parse_args()
    dataset = Path(args.dataset)
    if not (dataset / "good").is_dir() or not (dataset / "fault").is_dir():
        print(f"--dataset {dataset}: no good/ and fault/ folders of real frames here; nothing measured")
        return 0
    for seed in (0, 1):
        print(json.dumps(outside_nick(dataset, seed)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
