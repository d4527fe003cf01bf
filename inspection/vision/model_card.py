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


def _source_lines(sources: list[dict[str, Any]]) -> list[str]:
    """One block per training dataset: its figures, renaming, weight, maker or credit, and its own val."""
    lines = ["| source | images | boxes | splits | class map | weight | training images per epoch |",
             "| --- | ---: | ---: | --- | --- | ---: | ---: |"]
    for source in sources:
        stats = source["stats"]
        renamed = ", ".join(f"{old}={new}" for old, new in source.get("class_map", {}).items()) or "-"
        lines.append(f"| `{source['path']}` | {stats['images']} | {stats['boxes']} | {stats['splits']} | {renamed} | "
                     f"{source['weight']:g} | {source['train_images_per_epoch']} |")
    lines.append("")
    for source in sources:
        lines.append(f"- `{source['label']}` boxes per class: {source['stats']['classes']}")
        if source.get("generator"):
            lines.append(f"  made by `{source['generator']}`")
        if source.get("credit"):
            lines.append(f"  credit: {source['credit']}")
    if len(sources) > 1:
        lines += ["", "Weights: each source's weight is how many times each of its training images is seen per "
                  "epoch (copies are hard links), so that the larger source does not decide alone what the "
                  "network learns; the mix is in the table above."]
    return lines + [""]


def _val_line(name: str, val: dict[str, Any]) -> str:
    return (f"- {name}: precision {_fmt(val.get('precision'))}, recall {_fmt(val.get('recall'))}, "
            f"mAP50 {_fmt(val.get('map50'))}, mAP50-95 {_fmt(val.get('map50_95'))}")


def _limits(metadata: dict[str, Any]) -> list[str]:
    sources = metadata["training"].get("sources") or []
    simulated = [bool(source.get("generator")) for source in sources] or [True]
    lines = ["## Limits and settings", ""]
    if all(simulated):
        lines += ["- Trained on simulated images only (see the data). On real parts expect lower figures until it is",
                  "  fine-tuned on labelled photographs (`inspection train vision --dataset YOUR_DATA`)."]
    elif any(simulated):
        lines += ["- Trained on labelled photographs and simulated cell frames together (see the data)."]
    else:
        lines += ["- Trained on labelled photographs only (see the data): the cell's own frames are unseen."]
    lines += [
        f"- The cell's frames (1920x1080 and larger, defects a few pixels across): sliced inference with tiles of "
        f"{metadata['imgsz']} px, 20% overlap and a full-frame pass (the `vision_node` section of "
        "config/pipeline.yaml).",
        f"- Photographs framed on the defects (such as 640x640 hand-held shots): `--tile-size 0`, the whole image "
        f"shrunk to {metadata['imgsz']} px: slicing a close-up cuts its defects into pieces.",
        "",
    ]
    return lines


def render_model_card(metadata: dict[str, Any]) -> str:
    training = metadata["training"]
    stats = training["dataset_stats"]
    val = metadata.get("val_metrics", {})
    on_gpu = training.get("cuda")
    sources = training.get("sources") or []
    lines = [
        "# Stage I defect detector",
        "",
        f"{metadata['architecture'].replace('yolo', 'YOLO')} (Ultralytics), "
        + ("fine-tuned from an earlier model of this project (below), whose chain began"
           if training.get("initial_weights") else "trained")
        + " from the yaml definition (random initialisation:",
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
    ]
    if sources:
        lines += _source_lines(sources)
    else:  # a model written before several datasets could be mixed
        lines += [f"- data: `{training['dataset']}`: {stats['images']} images, {stats['boxes']} boxes, "
                  f"splits {stats['splits']}",
                  *([f"- data made by `{training['dataset_generator']}`"] if training.get("dataset_generator") else []),
                  f"- boxes per class: {stats['classes']}"]
    lines += [
        *([_fine_tuned_from(training["initial_weights"])] if training.get("initial_weights") else []),
        f"- epochs {training['epochs']}, image size {metadata['imgsz']}, batch {training['batch']}, "
        f"seed {training['seed']}, {training['duration_s'] / 60:.1f} min"
        + (f" (a {training['time_budget_h'] * 60:.3g}-minute budget: the epoch count was fitted to it)"
           if training.get("time_budget_h") else "")
        + (f", {training['fraction']:g} of the images" if training.get("fraction", 1.0) != 1.0 else ""),
        *([f"- augmentation: Ultralytics' defaults plus {training['augmentation']}"] if training.get("augmentation")
          else []),
        f"- device: {on_gpu or 'CPU'} ({training['host']}); Ultralytics {training['ultralytics']}, "
        f"torch {training['torch']}",
    ]
    if not on_gpu:
        lines.append("- trained on CPU: no GPU was available to this run. `tools/train_gpu.sh` trains the shipped "
                     "model on one CUDA GPU (`--device 0`).")
    lines += [
        "",
        "## Validation during training (Ultralytics, whole images at the input size, no slicing)",
        "",
        _val_line("all sources", val),
        *[_val_line(f"`{s['label']}` val alone", s["val_metrics"]) for s in sources if s.get("val_metrics")],
        "",
    ]
    if metadata.get("evaluation"):
        lines += _evaluation_section(metadata["evaluation"])
    chosen = metadata.get("recommended", {}).get("confidence_choice")
    if chosen:
        lines += ["## Operating confidence", "",
                  f"{metadata['recommended']['confidence']} chosen on `{chosen.get('dataset')}` split "
                  f"{chosen.get('split')} ({'class-agnostic' if chosen.get('agnostic') else 'class-aware'}), "
                  f"{chosen.get('criterion')}: precision {_fmt(chosen.get('precision'))}, "
                  f"recall {_fmt(chosen.get('recall'))} there. Chosen on validation data, never on test data.", ""]
    lines += _limits(metadata)
    command = training.get("command") or (
        "inspection train vision --dataset DATA --epochs "
        f"{training['epochs']} --imgsz {metadata['imgsz']} --seed {training['seed']}"
        f"{' --weights ' + training['initial_weights']['path'] if training.get('initial_weights') else ''}")
    lines += [f"Reproduce: `{command}`.", ""]
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


def record_confidence(model_path: Path, chosen: dict[str, Any], result: dict[str, Any]) -> None:
    """Store an operating confidence chosen on a val split as the model's ``recommended.confidence``."""
    from inspection.atomic import write_json_atomic, write_text_atomic
    from inspection.vision.detector import metadata_path, read_metadata

    metadata = read_metadata(model_path)
    recommended = dict(metadata.get("recommended") or {})
    recommended["confidence"] = chosen["confidence"]
    recommended["confidence_choice"] = {
        "dataset": result["dataset"], "split": result["split"], "agnostic": result["agnostic"],
        "criterion": chosen["criterion"], "precision": chosen["precision"], "recall": chosen["recall"],
        "f1": chosen["f1"], "settings": result.get("settings")}
    metadata["recommended"] = recommended
    write_json_atomic(metadata_path(model_path), metadata)
    write_text_atomic(Path(model_path).with_suffix(".md"), render_model_card(metadata))
