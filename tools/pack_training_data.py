#!/usr/bin/env python3
"""Pack the Stage I training data for a GPU host: hold out a selection split, re-encode, cut into parts.

Why: the real aircraft-skin set has only train and val splits, and the val split is what the model card
reports. Epochs and the operating confidence must be chosen on other data, so a fixed share of the
*training* photographs (hash of the path, `datasets.reproducible_order`) is held out as the selection
split and written as the packed set's `valid/`. The GPU host our sessions are lent takes at most 64 MiB
per call, so the images can be re-encoded (WebP) and cut into parts that are sent one call at a time
and merged there (`cp -rl part*/. DEST`).

    tools/pack_training_data.py --real ../shared/data/aircraft-skin --sim runs/vision/sim-train-s2000-t640 \\
        --out .gpu_data --real-quality 65 --sim-quality 80 --part-mb 47
    tools/pack_training_data.py --real ../shared/data/aircraft-skin --out runs/vision/aircraft-skin-split
        # the same split at the original quality (no re-encoding, one part): the selection set for
        # `inspection eval vision --choose-confidence`, and the data for a GPU host that has the originals
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from inspection.datasets import load_dataset  # noqa: E402
from inspection.datasets.writers import reproducible_order  # noqa: E402

SELECTION_SEED = 13  # which training photographs are held out; changing it changes the split


def _encode(image: Path, quality: int | None) -> tuple[bytes, str]:
    if quality is None:
        return image.read_bytes(), image.suffix
    pixels = cv2.imread(str(image), cv2.IMREAD_COLOR)
    if pixels is None:
        raise SystemExit(f"pack: {image}: not a readable image")
    ok, encoded = cv2.imencode(".webp", pixels, [cv2.IMWRITE_WEBP_QUALITY, quality])
    if not ok:
        raise SystemExit(f"pack: {image}: WebP encoding failed")
    return encoded.tobytes(), ".webp"


def _label(image: Path) -> Path:
    parts = list(image.parts)
    index = len(parts) - 1 - parts[::-1].index("images")
    return Path(*parts[:index], "labels", *parts[index + 1:]).with_suffix(".txt")


def pack(real: Path, sim: Path | None, out: Path, real_quality: int | None, sim_quality: int | None,
         selection_share: float, part_bytes: int) -> list[tuple[Path, int]]:
    """Write ``out/part1``, ``out/part2``... (or ``out`` itself when everything fits one part)."""
    real_set = load_dataset(real, format="yolo")
    train = [image for image in real_set.images if image.split == "train"]
    ordered = reproducible_order(train, real_set.root, SELECTION_SEED)
    held_out = {id(image) for image in ordered[:round(len(ordered) * selection_share)]}
    files: list[tuple[Path, Path, int | None]] = []  # source image, destination (no suffix), quality
    for image in train:
        split = "valid" if id(image) in held_out else "train"
        files.append((image.path, Path("aircraft-skin", split, "images", image.path.stem), real_quality))
    if sim is not None:
        sim_set = load_dataset(sim, format="yolo")
        for image in sim_set.images:
            files.append((image.path, Path("sim", "images", image.split, image.path.stem), sim_quality))
    part, used, written = 1, 0, []
    single = part_bytes <= 0
    for source, target, quality in files:
        data, suffix = _encode(source, quality)
        label = _label(source).read_bytes() if _label(source).is_file() else b""
        if not single and used and used + len(data) + len(label) > part_bytes:
            written.append((out / f"part{part}", used))
            part, used = part + 1, 0
        root = out if single else out / f"part{part}"
        image_path = root / target.with_suffix(suffix)
        image_path.parent.mkdir(parents=True, exist_ok=True)
        image_path.write_bytes(data)
        label_path = _label(image_path)
        label_path.parent.mkdir(parents=True, exist_ok=True)
        label_path.write_bytes(label)
        used += len(data) + len(label)
    written.append((out if single else out / f"part{part}", used))
    first = written[0][0]
    names = real_set.class_names
    encoding = f"re-encoded as WebP quality {real_quality}" if real_quality else "original files"
    (first / "aircraft-skin" / "data.yaml").write_text(
        "# aircraft-skin with a selection split: valid/ is a fixed share of the original train split\n"
        f"path: .\ntrain: train/images\nval: valid/images\nnames: {names}\n", encoding="utf-8")
    credit = next((p for p in (real / "README.md").read_text(encoding="utf-8").split("\n\n")
                   if p.lstrip().lower().startswith("source:")), "Source: see the original README.md")
    (first / "aircraft-skin" / "README.md").write_text(
        f"# aircraft-skin, packed by tools/pack_training_data.py\n\n{credit} Packed copy: {encoding}; "
        f"{len(held_out)} of the {len(train)} training photographs (seed {SELECTION_SEED}) held out as valid/ "
        "for choosing epochs and the operating confidence; the original val split is left out for reporting.\n",
        encoding="utf-8")
    if sim is not None:
        (first / "sim").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(sim / "data.yaml", first / "sim" / "data.yaml")
        if (sim / "dataset.json").is_file():
            shutil.copyfile(sim / "dataset.json", first / "sim" / "dataset.json")
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", type=Path, required=True, help="aircraft-skin folder (YOLO)")
    parser.add_argument("--sim", type=Path, help="simulated tiles (YOLO, from `inspection sim dataset`)")
    parser.add_argument("--out", type=Path, required=True, help="new folder")
    parser.add_argument("--real-quality", type=int, help="WebP quality for the photographs (default: copy as is)")
    parser.add_argument("--sim-quality", type=int, help="WebP quality for the simulated tiles (default: copy)")
    parser.add_argument("--selection-share", type=float, default=0.05, help="share of train held out (0.05)")
    parser.add_argument("--part-mb", type=float, default=0, help="cut into parts of at most this size (0: one)")
    args = parser.parse_args()
    if args.out.exists() and any(args.out.iterdir()):
        print(f"pack: --out {args.out}: exists and is not empty", file=sys.stderr)
        return 2
    for where, size in pack(args.real, args.sim, args.out, args.real_quality, args.sim_quality,
                            args.selection_share, int(args.part_mb * 1e6)):
        print(f"{where}: {size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
