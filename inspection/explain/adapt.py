"""`inspection explain adapt`: LoRA adapters around the spliced SAE, the end-to-end baseline, and the
shipped explainer (``models/defect_explainer.pt`` with its sidecar, card and atlas sprite)."""
from __future__ import annotations

import copy
import pickle
import hashlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from inspection.atomic import write_bytes_atomic, write_json_atomic
from inspection.errors import InputError
from inspection.json_codec import read_json_file
from inspection.explain.card import write_card
from inspection.explain.distill import (EVAL_EVERY, EVAL_EVERY_WHOLE_NETWORK, AnyDistillationCache,
                                        ImageDistillationCache, LossCurve, crop_tiles, distill, held_out_rows,
                                        teacher_cache)
from inspection.explain.features import letterboxed, pick_images, pixel_stack, splice_inputs
from inspection.explain.fit import ATLAS_FILE, SAE_FILE, SPRITE_FILE, save_torch_atomic
from inspection.explain.sae import ConvSae
from inspection.explain.splice import SPLICE_LAYER, adapter_state, add_lora, load_detection_model, lora_target_modules

EXPLAINER_FORMAT = 1


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_fitted_sae(sae_dir: Path) -> tuple[ConvSae, dict[str, Any]]:
    path = sae_dir / SAE_FILE
    if not path.is_file():
        raise InputError(f"{path}: no fitted SAE; run `inspection explain fit-sae --out {sae_dir}` first")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        return ConvSae.from_state(payload["sae_config"], payload["sae_state"]), payload["summary"]
    except (RuntimeError, KeyError, ValueError, AttributeError, EOFError, pickle.UnpicklingError) as exc:
        raise InputError(f"{path}: not an SAE written by `inspection explain fit-sae` ({exc})") from exc


def time_ratio(lora: LossCurve, e2e: LossCurve) -> dict[str, Any]:
    """Training time of the end-to-end baseline to reach the LoRA run's final held-out loss, over LoRA's own
    time to reach it; a lower bound (">=") when the baseline never reached it in its steps."""
    target = lora.loss[-1]
    lora_seconds = lora.seconds_to_reach(target)
    assert lora_seconds is not None  # its own last score reaches it
    e2e_seconds = e2e.seconds_to_reach(target)
    reached = e2e_seconds is not None
    ratio = (e2e_seconds if reached else e2e.seconds[-1]) / max(lora_seconds, 1e-9)
    return {"target_loss": target, "lora_seconds": lora_seconds, "e2e_seconds": e2e_seconds if reached else None,
            "e2e_final_loss": e2e.loss[-1], "e2e_steps_run": e2e.steps[-1], "e2e_run_seconds": e2e.seconds[-1],
            "e2e_time_ratio": ratio, "e2e_reached_target": reached}


def adapt_explainer(model_path: Path, sae_dir: Path, out: Path, *, rank: int, steps: int, batch: int, lr: float, crop: int,
                    e2e_steps: int, e2e_lr: float, seed: int, images_per_dataset: int, cosine: bool,
                    log: Callable[[str], None], scope: str = "after") -> dict[str, Any]:
    started = time.monotonic()
    sae, fit_summary = load_fitted_sae(sae_dir)
    if Path(fit_summary["detector"]).resolve() != model_path.resolve():
        raise InputError(f"{sae_dir / SAE_FILE}: fitted on {fit_summary['detector']}, not on {model_path}")
    torch.manual_seed(seed)
    teacher_model = load_detection_model(model_path)
    targets = len(lora_target_modules(teacher_model, scope))  # an unknown scope fails here, before the caching
    # The same pseudo-random order as the SAE's, so the SAE's images come first and more only add to them.
    records = pick_images([Path(d) for d in fit_summary["datasets"]], images_per_dataset, "train",
                          fit_summary["class_map"], fit_summary["seed"])
    images = letterboxed(records, fit_summary["imgsz"])
    log(f"{len(images)} training images ({images_per_dataset} per dataset; the SAE's {fit_summary['per_dataset']}); "
        "caching the frozen layers and the teacher")
    if scope == "after":
        # The layers before the splice stay frozen: they see whole tiles once, and steps train on crops of
        # their cached outputs.
        saved = crop_tiles(splice_inputs(teacher_model, images), fit_summary["imgsz"], crop)
        cache = teacher_cache(teacher_model, saved)
        lora_cache: AnyDistillationCache = cache
    else:
        # Adapters before the splice change what it sees, so every step runs the whole network on a crop;
        # the teacher and the end-to-end baseline see the same crops, so all share one objective.
        crops = crop_tiles({0: pixel_stack(images)}, fit_summary["imgsz"], crop)[0]
        cache = teacher_cache(teacher_model, splice_inputs(teacher_model, crops))
        lora_cache = ImageDistillationCache(cache.teacher_boxes, cache.teacher_scores, images=crops)
    held_out = held_out_rows(len(cache), len(images))
    eval_every = EVAL_EVERY if scope == "after" else EVAL_EVERY_WHOLE_NETWORK  # both runs scored alike

    student = add_lora(copy.deepcopy(teacher_model), rank, scope)
    frozen_sae = copy.deepcopy(sae).requires_grad_(False)
    adapters = [p for p in student.parameters() if p.requires_grad]
    where = "after the splice" if scope == "after" else "before and after the splice"
    log(f"LoRA rank {rank} on {targets} convolutions {where} (layer {SPLICE_LAYER}): "
        f"{sum(p.numel() for p in adapters)} trainable parameters")
    lora_curve = distill(student, frozen_sae, lora_cache, adapters, steps=steps, batch=batch, lr=lr, seed=seed,
                         held_out=held_out, cosine=cosine, log=log, name="lora", eval_every=eval_every)
    e2e_sae = copy.deepcopy(sae).requires_grad_(True)
    e2e_curve = distill(teacher_model, e2e_sae, cache, list(e2e_sae.parameters()), steps=e2e_steps, batch=batch,
                        lr=e2e_lr, seed=seed, held_out=held_out, cosine=cosine, stop_below=lora_curve.loss[-1],
                        log=log, name="e2e", eval_every=eval_every)
    timing = time_ratio(lora_curve, e2e_curve)
    log(f"LoRA reached held-out loss {timing['target_loss']:.4f} in {timing['lora_seconds']:.0f} s; end-to-end SAE "
        + (f"in {timing['e2e_seconds']:.0f} s" if timing["e2e_reached_target"]
           else f"not within {timing['e2e_steps_run']} steps ({timing['e2e_run_seconds']:.0f} s, loss "
                f"{timing['e2e_final_loss']:.4f})") + f": e2e_time_ratio {timing['e2e_time_ratio']:.2f}")
    atlas = read_json_file(sae_dir / ATLAS_FILE)
    summary = {
        **{k: fit_summary[k] for k in ("layer", "imgsz", "classes", "sae", "fvu", "dead_fraction", "live_latents",
                                       "datasets", "per_dataset", "class_map", "steps", "batch", "sae_seconds")},
        "detector": model_path.name, "detector_sha256": file_sha256(model_path),
        "lora": {"rank": rank, "alpha": rank, "scope": scope, "eval_every": eval_every, "steps": steps,
                 "batch": batch, "lr": lr, "cosine": cosine, "crop": crop, "per_dataset": images_per_dataset,
                 "held_out_images": len(held_out) * len(images) // len(cache),  # each brings all its crops
                 "target_modules": targets,
                 "parameters": sum(p.numel() for p in adapters), "seconds": round(lora_curve.seconds[-1], 1),
                 "final_loss": lora_curve.loss[-1], "initial_loss": lora_curve.loss[0]},
        "e2e": {"steps": e2e_steps, "lr": e2e_lr, **timing},
        "seed": seed, "adapt_seconds": round(time.monotonic() - started, 1),
    }
    save_torch_atomic(out, {
        "format": EXPLAINER_FORMAT, "detector_sha256": summary["detector_sha256"], "layer": SPLICE_LAYER,
        "sae_config": sae.config(), "sae_state": sae.state_dict(),
        "lora_rank": rank, "lora_scope": scope, "lora_state": adapter_state(student),
    })
    write_json_atomic(out.with_suffix(".json"), {"format": EXPLAINER_FORMAT, "summary": summary,
                                                 "atlas": atlas["latents"]})
    sprite = out.with_name(out.stem + "_atlas.png")
    write_bytes_atomic(sprite, (sae_dir / SPRITE_FILE).read_bytes())
    write_card(out)
    return summary
