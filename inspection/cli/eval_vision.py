"""Evaluate the Stage I detector as deployed (model, slicing, merge, confidence from the vision_node
parameters) on a labelled YOLO/COCO/VOC dataset; writes metrics JSON and a PR-curve plot."""
from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, type=Path, help="labelled dataset folder or file")
    parser.add_argument("--json", required=True, type=Path, metavar="OUT", help="metrics JSON to write")
    parser.add_argument("--model", help="model file (.pt or .onnx); default: vision_node.model")
    parser.add_argument("--params", type=Path, help="parameter file (default config/pipeline.yaml)")
    parser.add_argument("--format", choices=("yolo", "coco", "voc"), help="dataset format (default: detected)")
    parser.add_argument("--split", help="only this split (train, val, test)")
    parser.add_argument("--map", default="", metavar="OLD=NEW,...",
                        help="rename dataset classes first (OLD= leaves that class out)")
    parser.add_argument("--agnostic", action="store_true", help="score any defect box against any class")
    parser.add_argument("--tile-size", type=int, help="override vision_node.tile_size (0 = no slicing)")
    parser.add_argument("--full-frame-pass", choices=("on", "off"), help="override vision_node.full_frame_pass")
    parser.add_argument("--confidence", type=float,
                        help="score at this confidence instead of vision_node.confidence (the pipeline's hand-over "
                             "threshold, low on purpose: touch settles the weak detections); the detector's own "
                             "operating point is 0.15 on cell frames and the sidecar's recommended.confidence on "
                             "photographs")
    parser.add_argument("--record", action="store_true",
                        help="store the result in the model's metadata sidecar and model card")
    parser.add_argument("--choose-confidence", action="store_true",
                        help="choose the operating confidence (best F1) on this dataset's val split and store it "
                             "as recommended.confidence in the model's sidecar; needs --split val")


def run(args: argparse.Namespace) -> int:
    from dataclasses import asdict, replace

    from inspection.atomic import write_json_atomic
    from inspection.class_map import parse_class_map
    from inspection.config import load_node_params
    from inspection.errors import InputError
    from inspection.outputs import check_output_file
    from inspection.vision.detector import DefectDetector, DetectorSettings, resolve_model_path
    from inspection.vision.evaluation import choose_confidence, evaluate_detector, write_plots

    check_output_file(args.json, "--json")  # before the evaluation, not after it
    if args.choose_confidence and (args.split or "").lower() not in ("val", "valid", "validation"):
        raise InputError("--choose-confidence: needs --split val (the confidence is chosen on validation data, "
                         "never on test data)")
    class_map = parse_class_map(args.map)
    overrides = {k: v for k, v in (("tile_size", args.tile_size), ("confidence", args.confidence)) if v is not None}
    if args.full_frame_pass:
        overrides["full_frame_pass"] = args.full_frame_pass == "on"
    params = load_node_params("vision_node", args.params, overrides)
    model = resolve_model_path(args.model or params["model"])
    deployed = DetectorSettings.from_params(params)
    map_confidence = min(0.001, deployed.confidence)
    detector = DefectDetector.load(model, replace(deployed, confidence=map_confidence))

    from inspection.progress import progress_bar

    bar = progress_bar(unit="img", desc="eval vision")

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    result = evaluate_detector(detector, args.dataset, deployed.confidence, dataset_format=args.format,
                               split=args.split,
                               class_map=class_map, agnostic=args.agnostic,
                               map_confidence=map_confidence, progress=progress)
    bar.close()
    result["model"] = str(model)
    result["settings"] = asdict(deployed)
    if args.choose_confidence:
        result["chosen_confidence"] = choose_confidence(result["operating_points"])
    result["plots"] = write_plots(result, args.json, f"{model.name} on {args.dataset.name}")
    write_json_atomic(args.json, result)
    print(f"{result['images']} images, {result['truths']} defects: precision {result['precision'] or 0:.3f} "
          f"recall {result['recall'] or 0:.3f} (conf >= {deployed.confidence}, IoU 0.5), "
          f"mAP50 {result['map50']:.3f}, mAP50-95 {result['map50_95']:.3f}; {result['seconds_per_image']:.2f} s/image")
    for name, row in result["per_class"].items():
        if row["truths"]:
            print(f"  {name:12s} n={row['truths']:4d}  P {row['precision'] or 0:.3f}  R {row['recall'] or 0:.3f}  "
                  f"AP50 {row['ap50']:.3f}")
    print("  confidence -> precision / recall: " + ", ".join(
        f"{p['confidence']:g}: {p['precision'] or 0:.2f}/{p['recall'] or 0:.2f}" for p in result["operating_points"]))
    print(f"wrote {args.json} and {', '.join(result['plots'])}")
    if args.choose_confidence:
        from inspection.vision.model_card import record_confidence

        chosen = result["chosen_confidence"]
        if chosen is None:
            print(f"no confidence chosen: the model finds no defect of {args.dataset} at any threshold; "
                  f"{model.with_suffix('.json')} left as it was")
        else:
            record_confidence(model, chosen, result)
            print(f"chose confidence {chosen['confidence']:g} ({chosen['criterion']}: precision "
                  f"{chosen['precision'] or 0:.3f}, recall {chosen['recall'] or 0:.3f}); stored as "
                  f"recommended.confidence in {model.with_suffix('.json')}")
    if args.record:
        from inspection.vision.model_card import record_evaluation

        record_evaluation(model, result)
        print(f"recorded in {model.with_suffix('.json')} and {model.with_suffix('.md')}")
    return 0
