"""`inspection explain fit-sae`: collect the splice layer's activations over training images of the
shipped detector, train the TopK SAE on them, measure it on held-out images and build the atlas."""
from __future__ import annotations

import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from inspection.atomic import write_bytes_atomic, write_json_atomic
from inspection.explain.atlas import build_atlas, encode_png
from inspection.explain.features import letterboxed, pick_images, positions, splice_inputs
from inspection.explain.sae import ConvSae, fit_sae, fraction_of_variance_unexplained, latent_firing_counts, rms_scale
from inspection.explain.splice import SPLICE_LAYER, layer_channels, load_detection_model
from inspection.vision.detector import read_metadata

HELD_OUT_EVERY = 10  # every 10th image is held out of SAE training and measures its FVU
SAE_FILE, ATLAS_FILE, SPRITE_FILE = "sae.pt", "atlas.json", "atlas.png"


def save_torch_atomic(path: Path, payload: dict[str, Any]) -> None:
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    write_bytes_atomic(path, buffer.getvalue())


def fit_explainer_sae(model_path: Path, datasets: list[Path], class_map: dict[str, str], out_dir: Path, *,
                      per_dataset: int, expansion: int, k: int, steps: int, batch: int, seed: int,
                      log: Callable[[str], None]) -> dict[str, Any]:
    started = time.monotonic()
    metadata = read_metadata(model_path)
    imgsz, classes = int(metadata["imgsz"]), list(metadata["class_names"])
    model = load_detection_model(model_path)
    torch.manual_seed(seed)
    records = pick_images(datasets, per_dataset, "train", class_map, seed)
    images = letterboxed(records, imgsz)
    log(f"{len(images)} training images at {imgsz} px; activations of layer {SPLICE_LAYER}")
    feature_maps = splice_inputs(model, images, progress=lambda d, n: log(f"  activations {d}/{n}")
                                 if d % 40 == 0 or d == n else None)[SPLICE_LAYER]
    held_out = torch.zeros(len(images), dtype=torch.bool)
    held_out[::HELD_OUT_EVERY] = True
    train_vectors, test_vectors = positions(feature_maps[~held_out]), positions(feature_maps[held_out])
    channels = layer_channels(model)
    sae = ConvSae(channels, channels * expansion, k, rms_scale(train_vectors), seed=seed)
    fit = fit_sae(sae, train_vectors, steps=steps, batch=batch, seed=seed, log=log)
    fvu = fraction_of_variance_unexplained(sae, test_vectors)
    counts = latent_firing_counts(sae, positions(feature_maps))
    dead_fraction = float((counts == 0).float().mean())
    log(f"held-out FVU {fvu:.4f}, dead latents {dead_fraction:.1%} ({int((counts == 0).sum())}/{sae.num_latents})")
    with torch.no_grad():
        acts, indices = zip(*(sae.encode(feature_maps[i:i + 8].float()) for i in range(0, len(images), 8)))
    atlas, sprite = build_atlas(images, torch.cat(acts), torch.cat(indices), sae.num_latents, classes,
                                imgsz / feature_maps.shape[2])
    summary = {
        "detector": str(model_path), "layer": SPLICE_LAYER, "imgsz": imgsz, "classes": classes,
        "sae": sae.config(), "expansion": expansion, "steps": fit.steps, "batch": batch, "seed": seed,
        "training_images": [str(r.path) for r in records], "held_out_every": HELD_OUT_EVERY,
        "fvu": fvu, "final_training_fvu": fit.final_training_fvu, "dead_fraction": dead_fraction,
        "live_latents": len(atlas), "sae_seconds": round(fit.seconds, 1),
        "seconds": round(time.monotonic() - started, 1), "class_map": class_map,
        "datasets": [str(d) for d in datasets], "per_dataset": per_dataset,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    save_torch_atomic(out_dir / SAE_FILE, {"sae_config": sae.config(), "sae_state": sae.state_dict(), "summary": summary})
    write_json_atomic(out_dir / ATLAS_FILE, {"summary": summary, "latents": atlas})
    write_bytes_atomic(out_dir / SPRITE_FILE, encode_png(sprite))
    return summary
