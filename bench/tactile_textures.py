"""Stage II on simulated textured parts (simulated frames, tested against the simulator, #15 item 4).

``peaks``: per texture, from the JSON of `inspection eval tactile --dataset DIR --reference REF` on a
textured dataset of `inspection sim tactile --texture`: AUROC, false-reject and detection rates, and the
share of flagged fault frames whose strongest anomaly (``peak_xy``) lies on the defect (its labelled
``bbox_px`` grown by MARGIN_PX: a patch centre sees a defect up to a patch radius away).

``false-findings``: clean presses of one textured part through ``StageTwo.analyse`` as the tactile node
and the campaign call it (shipped calibration, the given classifier), without a reference (the campaign,
and the node's default ``reference_file: ""``) or with the texture's good-press reference (the node with
``reference_file: REF``): presses that come out as a finding (class not "none") per 1000 clean presses,
and ``by_press``: findings / presses among presses across a part edge, presses shifted off-centre by more
than OFF_CENTRE_M (and no edge), and the rest (a reference fitted without edges flags edges). With
``--part-geometry`` Stage II has the part's mesh around each press (``local_part_mesh``: its nominal
surface up to its edge, as a cell's CAD model gives it; the tactile node's ``part_mesh``) and leaves out
the gel beyond the part; without it, it guesses the edge from the image (classifier only).

    .venv/bin/python bench/tactile_textures.py peaks runs/tactile_texture/*_eval.json
    .venv/bin/python bench/tactile_textures.py false-findings --texture thread --part-seed 7 \
        --reference runs/tactile_texture/thread_ref.npz --presses 1000 --seed 3 [--part-geometry [--edge-margin M]] [--classifier WEIGHTS]

``examples``: one clean press of each texture's part (``--part-seed``, membrane on, centred, no part edge)
and under it its true relief (the simulator's gel indentation minus a quadratic surface), for the docs.

    .venv/bin/python bench/tactile_textures.py examples --part-seed 7 --out docs/images/tactile_textures.png
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from inspection import paths
from inspection.cell import load_cell
from inspection.sim.tactile_dataset import TexturedParts, local_part_mesh, pressed_pose, sample_scene
from inspection.sim.tactile_sensor import DEFAULT_MEMBRANE_LENGTH_M, TactileSimulator
from inspection.sim.tactile_texture import SMOOTH, TEXTURES, parse_textures

MARGIN_PX = 16
# A press counts as off-centre in ``by_press`` when the sensor is shifted more than this from the part's
# centre: centred presses are shifted by at most 1 mm per axis (tactile_dataset._textured_setup).
OFF_CENTRE_M = 0.0015
CONFIG = load_cell().tactile


def peak_on_defect(eval_path: Path) -> dict:
    """The eval JSON's rates plus how many flagged fault frames peak on their defect."""
    report = json.loads(eval_path.read_text())
    dataset = Path(report["dataset"])
    on_defect = flagged = 0
    for row in report["frames"]:
        if row["label"] != "fault" or not row["flagged"]:
            continue
        flagged += 1
        label = json.loads((dataset / "labels" / f"{Path(row['file']).stem}.json").read_text())
        x, y = row["peak_xy"]
        for defect in label["defects"]:
            x0, y0, x1, y1 = defect.get("bbox_px", (0, 0, -1, -1))
            if x0 - MARGIN_PX <= x <= x1 + MARGIN_PX and y0 - MARGIN_PX <= y <= y1 + MARGIN_PX:
                on_defect += 1
                break
    meta = json.loads((dataset / "dataset.json").read_text())
    return {"dataset": str(dataset), "reference": report["reference"], "textures": meta["textured"]["kinds"],
            "part_seed": meta["textured"]["part_seed"], "auroc": report["auroc"],
            "false_reject_rate": report["false_reject_rate"], "good": report["good_frames"],
            "detection_rate": report["detection_rate"], "fault": report["fault_frames"],
            "peak_on_defect": f"{on_defect}/{flagged}"}


def false_findings(texture: str, reference: str | None, presses: int, seed: int, part_seed: int | None,
                   classifier: str, part_geometry: bool = False,
                   edge_margin_m: float | None = None) -> dict:
    """Clean presses of one ``texture`` part (``part_seed``, membrane on, as `inspection sim tactile
    --texture T --part-seed S` draws them; no part seed: a new part per press) through Stage II with the
    ``classifier`` weights, gated by ``reference`` when given (the tactile node's reference_file), and with
    ``part_geometry`` leaving out the gel within ``edge_margin_m`` of the part's edge (default: the node's)."""
    from inspection.tactile.classifier import use_one_torch_thread
    from inspection.tactile.stage import PART_EDGE_MARGIN_M, NoContact, StageTwo

    if edge_margin_m is None:
        edge_margin_m = PART_EDGE_MARGIN_M

    use_one_torch_thread()
    textured = TexturedParts(parse_textures(texture), part_seed)
    parts = textured.fixed_parts()
    rng = np.random.default_rng(seed)
    stage = StageTwo.load(paths.model_file("tactile_calibration.npz"), classifier, reference=reference)
    stage.set_background(TactileSimulator(CONFIG, membrane_length_m=DEFAULT_MEMBRANE_LENGTH_M).background(rng))
    findings, rejected, no_contact, classes = 0, 0, 0, {}
    by_press: dict[str, list[int]] = {"edge": [0, 0], "off_centre": [0, 0], "centred": [0, 0]}
    started = time.perf_counter()
    for index in range(presses):
        scene, frame = sample_scene(rng, "none", CONFIG, None, textured, parts, DEFAULT_MEMBRANE_LENGTH_M)
        kind = "edge" if scene.edge is not None else (
            "off_centre" if float(np.hypot(*scene.pose[:2, 3])) > OFF_CENTRE_M else "centred")
        by_press[kind][1] += 1
        if part_geometry:
            stage.set_part(local_part_mesh(scene), edge_margin_m)
        try:
            result = stage.analyse(frame.image, pressed_pose(scene, frame), f"t{index}",
                                   pressed_depth_m=scene.press_depth_m)
        except NoContact:
            no_contact += 1
            continue
        if result.finding.class_name != "none":
            findings += 1
            by_press[kind][0] += 1
            classes[result.finding.class_name] = classes.get(result.finding.class_name, 0) + 1
        rejected += int(not result.verdict.accepted)
    return {"texture": texture, "part_seed": part_seed, "seed": seed, "presses": presses, "reference": reference,
            "part_geometry": part_geometry, "edge_margin_m": edge_margin_m if part_geometry else None,
            "classifier": classifier, "findings": findings, "per_1000": round(1000 * findings / presses, 1),
            "rejected": rejected, "no_contact": no_contact, "classes": classes,
            "by_press": {kind: f"{found}/{count}" for kind, (found, count) in by_press.items()},
            "wall_s": round(time.perf_counter() - started, 1)}


def _relief_um(height_m: np.ndarray, contact: np.ndarray) -> np.ndarray:
    """Gel indentation minus the quadratic surface fitted to it where the gel touches (um): the texture,
    without the part's curvature that would otherwise fill the colour range."""
    rows, cols = np.nonzero(contact)
    if len(rows) < 10:
        return np.zeros_like(height_m)
    ys, xs = np.mgrid[0:height_m.shape[0], 0:height_m.shape[1]].astype(float)
    terms = np.stack([np.ones_like(xs), xs, ys, xs * xs, xs * ys, ys * ys], axis=-1)
    coef, *_ = np.linalg.lstsq(terms[rows, cols], height_m[rows, cols], rcond=None)
    return np.where(contact, 1e6 * (height_m - terms @ coef), 0.0)


def examples(part_seed: int, seed: int, out: Path) -> None:
    """Per texture (and a smooth part) one clean press over its true relief: the simulator's gel
    indentation minus a quadratic surface, on a colour scale of +- the caption's micrometres."""
    import cv2

    simulator = TactileSimulator(CONFIG, membrane_length_m=DEFAULT_MEMBRANE_LENGTH_M)
    tiles = []
    for kind in TEXTURES + (SMOOTH,):
        textured = TexturedParts((kind,), part_seed, off_centre_share=0.0, edge_share=0.0)
        rng = np.random.default_rng(seed)
        _, frame = sample_scene(rng, "none", CONFIG, None, textured, textured.fixed_parts(), simulator.membrane_length_m)
        relief = _relief_um(frame.gel_height_m, frame.contact)
        span = max(float(np.percentile(np.abs(relief[frame.contact]), 99.5)), 1.0) if frame.contact.any() else 1.0
        grey = np.clip(127.5 + 127.5 * relief / span, 0, 255).astype(np.uint8)
        tile = np.vstack([frame.image, cv2.cvtColor(cv2.applyColorMap(grey, cv2.COLORMAP_VIRIDIS), cv2.COLOR_BGR2RGB)])
        tile = cv2.resize(tile, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)  # keeps the docs small
        caption = f"{kind} (+-{span:.0f} um)"
        cv2.putText(tile, caption, (4, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (255, 255, 255), 1, cv2.LINE_AA)
        tiles.append(tile)
    out.parent.mkdir(parents=True, exist_ok=True)
    panel = np.vstack([np.hstack(tiles[:3]), np.hstack(tiles[3:])])
    cv2.imwrite(str(out), cv2.cvtColor(panel, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"wrote {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    verbs = parser.add_subparsers(dest="verb", required=True)
    peaks = verbs.add_parser("peaks")
    peaks.add_argument("eval_json", nargs="+", type=Path)
    findings = verbs.add_parser("false-findings")
    findings.add_argument("--texture", required=True)
    findings.add_argument("--reference", help="the texture's good-press reference (.npz)")
    findings.add_argument("--presses", type=int, default=1000)
    findings.add_argument("--seed", type=int, default=3)
    findings.add_argument("--part-seed", type=int, help="one part per texture drawn from this seed (default: "
                          "a new random part per press)")
    findings.add_argument("--classifier", default=str(paths.model_file("tactile_classifier.pt")))
    findings.add_argument("--part-geometry", action="store_true", help="Stage II has the part's mesh around "
                          "each press (where the part ends), as the tactile node with part_mesh")
    findings.add_argument("--edge-margin", type=float, help="with --part-geometry: gel this close to the "
                          "part's edge is left out too, m (default: tactile_node.part_edge_margin_m's)")
    pictures = verbs.add_parser("examples")
    pictures.add_argument("--part-seed", type=int, default=7)
    pictures.add_argument("--seed", type=int, default=0)
    pictures.add_argument("--out", type=Path, required=True, help="PNG to write")
    args = parser.parse_args()
    if args.verb == "examples":
        examples(args.part_seed, args.seed, args.out)
    elif args.verb == "peaks":
        for path in args.eval_json:
            print(json.dumps(peak_on_defect(path)))
    else:
        print(json.dumps(false_findings(args.texture, args.reference, args.presses, args.seed, args.part_seed,
                                        args.classifier, args.part_geometry, args.edge_margin)))


if __name__ == "__main__":
    main()
