"""`inspection eval explain`: mAP50 of the original detector, the detector with the SAE spliced in, and
the spliced detector with its LoRA adapters, on one labelled dataset with the deployed slicing; the
share of the SAE's mAP gap that the adapters close; and the cost of each at inference."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from inspection.explain.explainer import VARIANTS, ExplainerFiles, ExplainingBackend, SplicedModels, check_detector
from inspection.vision.detector import DefectDetector, DetectorSettings, model_class_names, read_metadata
from inspection.vision.evaluation import evaluate_detector
from inspection.vision.metrics import ImageMatches, summarise_images


# Below this mAP50 difference splicing the SAE cost nothing, and there is no gap to close.
MIN_GAP = 1e-9


def gap_closed(original: float, sae: float, sae_lora: float) -> float | None:
    """(mAP_lora - mAP_sae) / (mAP_original - mAP_sae); None when splicing the SAE cost nothing."""
    gap = original - sae
    return (sae_lora - sae) / gap if gap > MIN_GAP else None


BOOTSTRAP_ROUNDS = 300


def paired_bootstrap(matches: dict[str, list[ImageMatches]], names: list[str], rounds: int = BOOTSTRAP_ROUNDS,
                     seed: int = 0) -> dict[str, Any]:
    """How far the three models' mAP50 differences could move with another draw of images like these:
    every round resamples the images with replacement and scores all three variants on that same draw
    (paired, so what the images share cancels). Reports 5-95 % intervals of the SAE's cost
    (original - SAE), of what the adapters win back (SAE + LoRA - SAE), and of ``gap_closed`` over the
    rounds where the SAE costs anything, with the share of such rounds."""
    generator = np.random.default_rng(seed)
    count = len(matches["original"])
    scores = {variant: np.empty(rounds) for variant in VARIANTS}
    for index in range(rounds):
        rows = generator.integers(0, count, count)
        for variant in VARIANTS:
            scores[variant][index] = summarise_images(matches[variant], names, rows=rows).map50
    cost = scores["original"] - scores["sae"]
    won_back = scores["sae_lora"] - scores["sae"]
    costly = cost > MIN_GAP

    def interval(values: np.ndarray) -> list[float] | None:
        return [float(v) for v in np.percentile(values, [5, 95])] if len(values) else None

    return {"rounds": rounds, "seed": seed, "sae_cost_90": interval(cost), "lora_gain_90": interval(won_back),
            "gap_closed_90": interval(won_back[costly] / cost[costly]),
            "share_of_rounds_with_a_gap": float(costly.mean())}


def evaluate_explainer(detector_path: Path, explainer_path: Path, dataset: Path, settings: DetectorSettings, *,
                       split: str | None, class_map: dict[str, str], agnostic: bool, max_images: int | None,
                       progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    explainer = ExplainerFiles.load(explainer_path)
    check_detector(explainer, detector_path)
    imgsz = int(read_metadata(detector_path)["imgsz"])
    names = model_class_names(detector_path, settings.class_map)
    map_confidence = min(0.001, settings.confidence)
    models = SplicedModels(detector_path, explainer)
    backend = ExplainingBackend(models, imgsz, map_confidence, settings.iou, settings.max_detections,
                                explain_above=settings.confidence)
    scoring = replace(settings, confidence=map_confidence)
    results: dict[str, dict[str, Any]] = {}
    for variant in VARIANTS:  # the first runs the shared pass; the others replay its other tails
        variant_backend = backend if variant == backend.primary else backend.replay(variant)
        results[variant] = evaluate_detector(
            DefectDetector(variant_backend, names, scoring), dataset, settings.confidence, split=split,
            class_map=class_map, agnostic=agnostic, map_confidence=map_confidence, max_images=max_images,
            progress=progress if variant == backend.primary else None, keep_matches=True)
    images = results["original"]["images"]
    seconds = {variant: models.variant_seconds(variant) / images for variant in VARIANTS}
    kl = {variant: total / max(1, models.images_seen) for variant, total in models.kl_to_original.items()}
    summary = explainer.sidecar["summary"]
    maps = {variant: results[variant]["map50"] for variant in VARIANTS}
    matches = {variant: results[variant].pop("image_matches") for variant in VARIANTS}
    bootstrap = paired_bootstrap(matches, results["original"]["class_names"])
    return {
        "map50_original": maps["original"], "map50_sae": maps["sae"], "map50_sae_lora": maps["sae_lora"],
        "gap_closed": gap_closed(maps["original"], maps["sae"], maps["sae_lora"]),
        "bootstrap": bootstrap,
        # The paper's own measure, on these images: the spliced model's distillation loss (KL) to the
        # original, and the share of it the adapters remove. Per model input (tile or whole frame).
        "kl_sae": kl["sae"], "kl_sae_lora": kl["sae_lora"],
        "kl_gap_closed": 1.0 - kl["sae_lora"] / kl["sae"] if kl["sae"] > 0 else None,
        "fvu": summary["fvu"], "dead_fraction": summary["dead_fraction"],
        "e2e_time_ratio": summary["e2e"]["e2e_time_ratio"],
        "e2e_reached_target": summary["e2e"]["e2e_reached_target"],
        "model_seconds_per_image": seconds,
        "explain_latency_cost": seconds["sae_lora"] / seconds["original"] - 1.0,
        "dataset": str(dataset), "split": split or "all", "images": images, "agnostic": agnostic,
        "tile_size": settings.tile_size, "full_frame_pass": settings.full_frame_pass,
        "detector": str(detector_path), "explainer": str(explainer_path),
        "latent_usage": dict(backend.latent_usage.most_common()),
        "variants": {variant: {k: v for k, v in result.items() if k != "pr_curve"}
                     for variant, result in results.items()},
    }
