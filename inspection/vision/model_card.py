"""The model card (``defect_detector.md``), rendered from the metadata sidecar so that the numbers a
reader sees are the ones the training and evaluation runs wrote, never typed in by hand."""
from __future__ import annotations

from pathlib import Path
from typing import Any


def _fmt(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else ("n/a" if value is None else str(value))


def _evaluation_section(evaluation: dict[str, Any]) -> list[str]:
    settings = evaluation.get("settings", {})
    deployed = (f"tiles {settings.get('tile_size')} px, overlap {settings.get('tile_overlap')}, full-frame pass "
                f"{'on' if settings.get('full_frame_pass') else 'off'}, NMS/merge IoU {settings.get('iou')}")
    lines = [
        "## Held-out evaluation (`inspection eval vision --record`)",
        "",
        f"Dataset `{evaluation.get('dataset')}` ({evaluation.get('images')} images, {evaluation.get('truths')} "
        f"defects), deployed settings: {deployed}.",
        "",
        f"Precision {_fmt(evaluation.get('precision'))}, recall {_fmt(evaluation.get('recall'))} "
        f"(defect level, IoU 0.5, confidence >= {evaluation.get('conf_threshold')}); "
        f"mAP50 {_fmt(evaluation.get('map50'))}, mAP50-95 {_fmt(evaluation.get('map50_95'))}.",
        "",
        "| class | defects | precision | recall | AP50 |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, row in evaluation.get("per_class", {}).items():
        lines.append(f"| {name} | {row.get('truths')} | {_fmt(row.get('precision'))} | {_fmt(row.get('recall'))} "
                     f"| {_fmt(row.get('ap50'))} |")
    sizes = evaluation.get("per_size", {})
    if sizes:
        lines += ["", "Recall by defect size (square root of the box area): " + ", ".join(
            f"{label} {row['detected']}/{row['truths']}" for label, row in sizes.items()) + "."]
    return lines + [""]


def _fine_tuned_from(initial: dict[str, Any]) -> str:
    earlier = initial.get("training") or {}
    history = (f": itself {earlier.get('epochs')} epochs on `{earlier.get('dataset')}`, seed {earlier.get('seed')}"
               if earlier else "")
    return f"- fine-tuned from `{initial['path']}` (sha256 {initial['sha256'][:12]}){history}"


def render_model_card(metadata: dict[str, Any]) -> str:
    training = metadata["training"]
    stats = training["dataset_stats"]
    val = metadata.get("val_metrics", {})
    on_gpu = training.get("cuda")
    lines = [
        "# Stage I defect detector",
        "",
        f"{metadata['architecture'].replace('yolo', 'YOLO')} (Ultralytics), trained from its yaml definition "
        "(random initialisation:",
        "no pretrained weights are downloaded), input "
        f"{metadata['imgsz']}x{metadata['imgsz']} RGB. Written by `inspection train vision`; do not edit by hand.",
        "",
        f"Classes ({len(metadata['class_names'])}): {', '.join(metadata['class_names'])}.",
        "",
        "Files: `defect_detector.pt` (Ultralytics weights), `defect_detector.onnx` (ONNX, dynamic batch; run by",
        "ONNX Runtime with the project's own letterbox and NMS), `defect_detector.json` (this metadata).",
        "",
        "## Training",
        "",
        f"- data: `{training['dataset']}`: {stats['images']} images, {stats['boxes']} boxes, splits {stats['splits']}",
        *([f"- data made by `{training['dataset_generator']}`"] if training.get("dataset_generator") else []),
        f"- boxes per class: {stats['classes']}",
        *([_fine_tuned_from(training["initial_weights"])] if training.get("initial_weights") else []),
        f"- epochs {training['epochs']}, image size {metadata['imgsz']}, batch {training['batch']}, "
        f"seed {training['seed']}, {training['duration_s'] / 60:.1f} min",
        f"- device: {on_gpu or 'CPU'} ({training['host']}); Ultralytics {training['ultralytics']}, "
        f"torch {training['torch']}",
    ]
    if not on_gpu:
        lines.append("- trained on CPU: no GPU was available to this run. `inspection train vision --device 0` "
                     "trains on CUDA when one is present (more epochs and imgsz 640 fit a GPU budget).")
    lines += [
        "",
        "## Validation during training (Ultralytics, whole tiles, no slicing)",
        "",
        f"Precision {_fmt(val.get('precision'))}, recall {_fmt(val.get('recall'))}, mAP50 {_fmt(val.get('map50'))}, "
        f"mAP50-95 {_fmt(val.get('map50_95'))} on the val split.",
        "",
    ]
    if metadata.get("evaluation"):
        lines += _evaluation_section(metadata["evaluation"])
    lines += [
        "## Limits",
        "",
        "- Trained on simulated images only (see the data line). On real parts expect lower figures until it is",
        "  fine-tuned on the cell's own labelled images (`inspection train vision --dataset YOUR_DATA`).",
        "- Recommended deployment: sliced inference with tiles of the training image size, 20% overlap and a",
        "  full-frame pass (the `vision_node` section of config/pipeline.yaml).",
        "",
        "Reproduce: `inspection train vision --dataset DATA --epochs "
        f"{training['epochs']} --imgsz {metadata['imgsz']} --seed {training['seed']}"
        f"{' --weights ' + training['initial_weights']['path'] if training.get('initial_weights') else ''}`.",
        "",
    ]
    return "\n".join(lines)


def record_evaluation(model_path: Path, result: dict[str, Any]) -> None:
    """Store an evaluation's headline figures in the model's sidecar and re-render its card."""
    from inspection.atomic import write_json_atomic, write_text_atomic
    from inspection.vision.detector import metadata_path, read_metadata

    metadata = read_metadata(model_path)
    keep = ("dataset", "split", "images", "truths", "conf_threshold", "precision", "recall", "map50", "map50_95",
            "settings", "per_size")
    metadata["evaluation"] = {key: result[key] for key in keep if key in result}
    metadata["evaluation"]["per_class"] = {
        name: {k: row[k] for k in ("truths", "precision", "recall", "ap50")}
        for name, row in result["per_class"].items() if row["truths"]}
    write_json_atomic(metadata_path(model_path), metadata)
    write_text_atomic(Path(model_path).with_suffix(".md"), render_model_card(metadata))
